//! [`IsolationAudit`]: checks, against PostgreSQL's catalog, that the database enforces what the
//! types promise, and fails closed when it does not.

use std::fmt;

use sqlx::PgPool;

use crate::repo::{Entity, EntityMeta, TENANT_POLICY};
use crate::{Error, TENANT_SETTING};

/// One way the database does not back tenant isolation up. Each names what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Finding {
    /// The connected role is a superuser: row-level security does not apply to it.
    #[error(
        "role `{role}` is a superuser, which row-level security does not apply to; connect as a plain role"
    )]
    Superuser {
        /// The connected role.
        role: String,
    },
    /// The connected role has BYPASSRLS.
    #[error(
        "role `{role}` has BYPASSRLS; connect as a role without it (ALTER ROLE .. NOBYPASSRLS)"
    )]
    BypassRls {
        /// The connected role.
        role: String,
    },
    /// A tenant table does not exist in the connection's search path.
    #[error("table `{table}` does not exist in the search path")]
    TableMissing {
        /// The table.
        table: &'static str,
    },
    /// A tenant table has row-level security disabled.
    #[error("table `{table}` has row-level security disabled; run Repo::row_level_security")]
    RlsDisabled {
        /// The table.
        table: &'static str,
    },
    /// A tenant table's row-level security is not forced, and the connected role owns it, so the
    /// policy does not apply to this connection.
    #[error(
        "table `{table}` is owned by the connected role and row-level security is not forced: the owner bypasses the policy (ALTER TABLE .. FORCE ROW LEVEL SECURITY)"
    )]
    OwnerBypasses {
        /// The table.
        table: &'static str,
    },
    /// A tenant table's row-level security is not forced (a finding even when another role owns
    /// it: an ownership change would silently open it).
    #[error(
        "table `{table}` does not force row-level security (ALTER TABLE .. FORCE ROW LEVEL SECURITY)"
    )]
    RlsNotForced {
        /// The table.
        table: &'static str,
    },
    /// A tenant table has no policy that checks every command's rows against the tenant setting
    /// both when reading (USING) and when writing (WITH CHECK).
    #[error(
        "table `{table}` has no tenant policy for all commands with USING and WITH CHECK `{expected}`"
    )]
    PolicyMissing {
        /// The table.
        table: &'static str,
        /// The predicate the policy should have, as PostgreSQL prints it.
        expected: String,
    },
    /// A `#[belongs_to]` field's composite foreign key, led by the tenant column, is absent (or
    /// not validated, or on other columns): a row could point at another tenant's row.
    #[error(
        "table `{table}` has no validated foreign key ({}) REFERENCES {references}: a row could point at another tenant's row",
        columns.join(", ")
    )]
    ForeignKeyMissing {
        /// The child's table.
        table: &'static str,
        /// The columns of the foreign key: the tenant column, then the `#[belongs_to]` field's.
        columns: Vec<&'static str>,
        /// The parent's table and columns, e.g. `customers (tenant_id, id)`.
        references: String,
    },
    /// A permissive policy other than the tenant policy: permissive policies are ORed, so it can
    /// open rows of every tenant.
    #[error(
        "table `{table}` has another permissive policy `{policy}`, which is ORed with the tenant policy; make it RESTRICTIVE or drop it"
    )]
    ExtraPermissivePolicy {
        /// The table.
        table: &'static str,
        /// The policy.
        policy: String,
    },
}

/// What the audit read from the catalog about the connected role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoleFacts {
    pub(crate) name: String,
    pub(crate) superuser: bool,
    pub(crate) bypass_rls: bool,
}

/// What the audit read from the catalog about one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableFacts {
    pub(crate) rls: bool,
    pub(crate) forced: bool,
    pub(crate) owned_by_current_role: bool,
    /// (name, command, permissive, USING, WITH CHECK) of each policy.
    pub(crate) policies: Vec<PolicyFacts>,
    /// The table's foreign keys.
    pub(crate) foreign_keys: Vec<ForeignKeyFacts>,
}

/// One foreign key of a table, from `pg_constraint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ForeignKeyFacts {
    /// The referencing columns, in order.
    pub(crate) columns: Vec<String>,
    /// The referenced table, as `regclass` prints it.
    pub(crate) references: String,
    /// The referenced columns, in order.
    pub(crate) ref_columns: Vec<String>,
    /// Checked against every row (not added `NOT VALID`).
    pub(crate) validated: bool,
}

/// The foreign key a `#[belongs_to]` field needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExpectedForeignKey {
    /// The tenant column, then the field's.
    pub(crate) columns: Vec<&'static str>,
    /// The parent's table.
    pub(crate) parent: &'static str,
    /// The parent's table as `regclass` prints it; `None` when it is not in the search path.
    pub(crate) parent_regclass: Option<String>,
    /// The parent's tenant and key columns.
    pub(crate) ref_columns: Vec<&'static str>,
}

impl ExpectedForeignKey {
    fn is_met_by(&self, fk: &ForeignKeyFacts) -> bool {
        fk.validated
            && self.parent_regclass.as_ref() == Some(&fk.references)
            && fk
                .columns
                .iter()
                .map(String::as_str)
                .eq(self.columns.iter().copied())
            && fk
                .ref_columns
                .iter()
                .map(String::as_str)
                .eq(self.ref_columns.iter().copied())
    }
}

/// What the audit checks for one table: its name, the policy predicate as PostgreSQL prints it,
/// its `#[belongs_to]` foreign keys, and what the catalog says (`None`: no such table).
pub(crate) type TableAudit = (
    &'static str,
    String,
    Vec<ExpectedForeignKey>,
    Option<TableFacts>,
);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PolicyFacts {
    pub(crate) name: String,
    /// `*` for ALL, `r`, `a`, `w`, `d` for SELECT, INSERT, UPDATE, DELETE.
    pub(crate) command: String,
    pub(crate) permissive: bool,
    pub(crate) using: Option<String>,
    pub(crate) with_check: Option<String>,
}

/// The findings for the facts read: a pure function, so every rule has a unit test without a
/// server that breaks it.
pub(crate) fn findings(role: &RoleFacts, tables: &[TableAudit]) -> Vec<Finding> {
    let mut found = Vec::new();
    if role.superuser {
        found.push(Finding::Superuser {
            role: role.name.clone(),
        });
    }
    if role.bypass_rls {
        found.push(Finding::BypassRls {
            role: role.name.clone(),
        });
    }
    for (table, expected, foreign_keys, facts) in tables {
        let table = *table;
        let Some(facts) = facts else {
            found.push(Finding::TableMissing { table });
            continue;
        };
        if !facts.rls {
            found.push(Finding::RlsDisabled { table });
        }
        if !facts.forced {
            found.push(if facts.owned_by_current_role {
                Finding::OwnerBypasses { table }
            } else {
                Finding::RlsNotForced { table }
            });
        }
        let complete = facts.policies.iter().any(|p| {
            p.command == "*"
                && p.using.as_deref() == Some(expected)
                && p.with_check.as_deref() == Some(expected)
        });
        if !complete {
            found.push(Finding::PolicyMissing {
                table,
                expected: expected.clone(),
            });
        }
        for policy in &facts.policies {
            let ours = policy.name == TENANT_POLICY
                && policy.command == "*"
                && policy.using.as_deref() == Some(expected);
            if policy.permissive && !ours {
                found.push(Finding::ExtraPermissivePolicy {
                    table,
                    policy: policy.name.clone(),
                });
            }
        }
        for wanted in foreign_keys {
            if !facts.foreign_keys.iter().any(|fk| wanted.is_met_by(fk)) {
                found.push(Finding::ForeignKeyMissing {
                    table,
                    columns: wanted.columns.clone(),
                    references: format!("{} ({})", wanted.parent, wanted.ref_columns.join(", ")),
                });
            }
        }
    }
    found
}

/// The findings of a failed audit, as one error: every one of them, not just the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Findings(pub Vec<Finding>);

impl fmt::Display for Findings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tenant isolation is not enforced by the database:")?;
        for finding in &self.0 {
            write!(f, "\n- {finding}")?;
        }
        Ok(())
    }
}

/// Checks that PostgreSQL enforces tenant isolation for a set of entities, as the role the pool
/// connects with. Run it at startup (refuse to serve on a finding) and in CI.
///
/// It checks that the role is not a superuser and has no BYPASSRLS; and, for each entity's table
/// in the search path, that it exists, has row-level security enabled and forced (an owner
/// bypasses an unforced policy), has a policy for all commands whose USING and WITH CHECK are
/// `tenant = current_setting('app.tenant_id', true)`, and has no other permissive policy (those
/// are ORed, and one `USING (true)` opens every tenant's rows); and that each `#[belongs_to]`
/// field has its validated foreign key `(tenant, field) REFERENCES parent (tenant, key)`. All
/// findings come back at once.
///
/// ```no_run
/// # use tenant::{tenant_scoped, TenantId};
/// # use tenant::sqlx::IsolationAudit;
/// # #[tenant_scoped(table = "invoices")]
/// # pub struct Invoice { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub total: i64 }
/// # #[tenant_scoped(table = "customers")]
/// # pub struct Customer { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub name: String }
/// # async fn start(pool: sqlx::PgPool) -> Result<(), tenant::sqlx::Error> {
/// IsolationAudit::new()
///     .entity::<Invoice>()
///     .entity::<Customer>()
///     .ensure(&pool)
///     .await?; // Err(Error::Isolation(findings)) lists every problem
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default, Clone)]
pub struct IsolationAudit {
    tables: Vec<&'static EntityMeta>,
}

impl IsolationAudit {
    /// An audit of no table yet: it checks the role alone.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `E`'s table.
    pub fn entity<E: Entity>(mut self) -> Self {
        self.tables.push(E::META);
        self
    }

    /// Every finding, empty when the database enforces isolation for these tables.
    pub async fn findings(&self, pool: &PgPool) -> Result<Vec<Finding>, Error> {
        let mut conn = pool.acquire().await?;
        let (name, superuser, bypass_rls): (String, bool, bool) = sqlx::query_as(
            "SELECT rolname::text, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user",
        )
        .fetch_one(&mut *conn)
        .await?;
        let role = RoleFacts {
            name,
            superuser,
            bypass_rls,
        };
        let mut tables = Vec::with_capacity(self.tables.len());
        for meta in &self.tables {
            // PostgreSQL's own rendering of the expected predicate, so the comparison does not
            // depend on how it prints casts or quotes identifiers.
            let expected: String = sqlx::query_scalar(
                "SELECT format('(%I = current_setting(%L::text, true))', $1::text, $2::text)",
            )
            .bind(meta.tenant_column())
            .bind(TENANT_SETTING)
            .fetch_one(&mut *conn)
            .await?;
            let quoted = format!("\"{}\"", meta.table);
            let row: Option<(bool, bool, bool)> = sqlx::query_as(
                "SELECT relrowsecurity, relforcerowsecurity, \
                        pg_get_userbyid(relowner) = current_user \
                 FROM pg_class WHERE oid = to_regclass($1)",
            )
            .bind(&quoted)
            .fetch_optional(&mut *conn)
            .await?;
            let facts = match row {
                None => None,
                Some((rls, forced, owned_by_current_role)) => {
                    let policies = sqlx::query(
                        "SELECT polname::text, polcmd::text, polpermissive, \
                                pg_get_expr(polqual, polrelid), \
                                pg_get_expr(polwithcheck, polrelid) \
                         FROM pg_policy WHERE polrelid = to_regclass($1) ORDER BY polname",
                    )
                    .bind(&quoted)
                    .try_map(|row: sqlx::postgres::PgRow| {
                        use sqlx::Row;
                        Ok(PolicyFacts {
                            name: row.try_get(0)?,
                            command: row.try_get(1)?,
                            permissive: row.try_get(2)?,
                            using: row.try_get(3)?,
                            with_check: row.try_get(4)?,
                        })
                    })
                    .fetch_all(&mut *conn)
                    .await?;
                    let foreign_keys = sqlx::query(
                        "SELECT c.confrelid::regclass::text, c.convalidated, \
                                ARRAY(SELECT a.attname::text \
                                      FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, n) \
                                      JOIN pg_attribute a \
                                        ON a.attrelid = c.conrelid AND a.attnum = k.attnum \
                                      ORDER BY k.n), \
                                ARRAY(SELECT a.attname::text \
                                      FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, n) \
                                      JOIN pg_attribute a \
                                        ON a.attrelid = c.confrelid AND a.attnum = k.attnum \
                                      ORDER BY k.n) \
                         FROM pg_constraint c \
                         WHERE c.contype = 'f' AND c.conrelid = to_regclass($1) \
                         ORDER BY c.conname",
                    )
                    .bind(&quoted)
                    .try_map(|row: sqlx::postgres::PgRow| {
                        use sqlx::Row;
                        Ok(ForeignKeyFacts {
                            references: row.try_get(0)?,
                            validated: row.try_get(1)?,
                            columns: row.try_get(2)?,
                            ref_columns: row.try_get(3)?,
                        })
                    })
                    .fetch_all(&mut *conn)
                    .await?;
                    Some(TableFacts {
                        rls,
                        forced,
                        owned_by_current_role,
                        policies,
                        foreign_keys,
                    })
                }
            };
            let mut wanted = Vec::new();
            for (column, parent) in meta.foreign_keys() {
                let parent_regclass: Option<String> =
                    sqlx::query_scalar("SELECT to_regclass($1)::text")
                        .bind(format!("\"{}\"", parent.table))
                        .fetch_one(&mut *conn)
                        .await?;
                wanted.push(ExpectedForeignKey {
                    columns: vec![meta.tenant_column(), column.name],
                    parent: parent.table,
                    parent_regclass,
                    ref_columns: vec![parent.tenant_column(), parent.key_column()],
                });
            }
            tables.push((meta.table, expected, wanted, facts));
        }
        Ok(findings(&role, &tables))
    }

    /// `Ok` when there are no findings, else [`Error::Isolation`] with all of them.
    pub async fn ensure(&self, pool: &PgPool) -> Result<(), Error> {
        let findings = self.findings(pool).await?;
        if findings.is_empty() {
            Ok(())
        } else {
            Err(Error::Isolation(Findings(findings)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPECTED: &str = "(tenant_id = current_setting('app.tenant_id'::text, true))";

    fn role() -> RoleFacts {
        RoleFacts {
            name: "app".into(),
            superuser: false,
            bypass_rls: false,
        }
    }

    fn policy(
        name: &str,
        command: &str,
        permissive: bool,
        using: &str,
        check: &str,
    ) -> PolicyFacts {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        PolicyFacts {
            name: name.into(),
            command: command.into(),
            permissive,
            using: some(using),
            with_check: some(check),
        }
    }

    fn good() -> TableFacts {
        TableFacts {
            rls: true,
            forced: true,
            owned_by_current_role: false,
            policies: vec![policy(TENANT_POLICY, "*", true, EXPECTED, EXPECTED)],
            foreign_keys: vec![],
        }
    }

    fn audit(role: &RoleFacts, table: Option<TableFacts>) -> Vec<Finding> {
        findings(role, &[("invoices", EXPECTED.to_owned(), vec![], table)])
    }

    fn customer_fk() -> ExpectedForeignKey {
        ExpectedForeignKey {
            columns: vec!["tenant_id", "customer_id"],
            parent: "customers",
            parent_regclass: Some("customers".into()),
            ref_columns: vec!["tenant_id", "id"],
        }
    }

    fn foreign_key(columns: &[&str], references: &str, ref_columns: &[&str]) -> ForeignKeyFacts {
        ForeignKeyFacts {
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            references: references.into(),
            ref_columns: ref_columns.iter().map(|c| (*c).to_owned()).collect(),
            validated: true,
        }
    }

    #[test]
    fn a_belongs_to_field_needs_its_tenant_led_foreign_key() {
        let with = |foreign_keys: Vec<ForeignKeyFacts>| {
            let facts = TableFacts {
                foreign_keys,
                ..good()
            };
            findings(
                &role(),
                &[(
                    "invoices",
                    EXPECTED.to_owned(),
                    vec![customer_fk()],
                    Some(facts),
                )],
            )
        };
        let composite = foreign_key(
            &["tenant_id", "customer_id"],
            "customers",
            &["tenant_id", "id"],
        );
        assert_eq!(with(vec![composite.clone()]), []);
        let missing = Finding::ForeignKeyMissing {
            table: "invoices",
            columns: vec!["tenant_id", "customer_id"],
            references: "customers (tenant_id, id)".into(),
        };
        let missing = vec![missing];
        assert_eq!(with(vec![]), missing);
        // On the key alone: a row could point at another tenant's customer.
        let key_alone = foreign_key(&["customer_id"], "customers", &["id"]);
        assert_eq!(with(vec![key_alone]), missing);
        // Another table, or columns in another order.
        let elsewhere = foreign_key(
            &["tenant_id", "customer_id"],
            "other.customers",
            &["tenant_id", "id"],
        );
        assert_eq!(with(vec![elsewhere]), missing);
        let swapped = foreign_key(
            &["customer_id", "tenant_id"],
            "customers",
            &["id", "tenant_id"],
        );
        assert_eq!(with(vec![swapped]), missing);
        // Added NOT VALID: the rows already there were never checked.
        let unchecked = ForeignKeyFacts {
            validated: false,
            ..composite
        };
        assert_eq!(with(vec![unchecked]), missing);
        assert!(
            Findings(missing)
                .to_string()
                .contains("(tenant_id, customer_id) REFERENCES customers (tenant_id, id)")
        );
    }

    #[test]
    fn a_protected_table_and_a_plain_role_have_no_findings() {
        assert_eq!(audit(&role(), Some(good())), []);
        // A restrictive policy only narrows: fine.
        let mut narrowed = good();
        narrowed
            .policies
            .push(policy("no_deletes", "d", false, "false", ""));
        assert_eq!(audit(&role(), Some(narrowed)), []);
    }

    #[test]
    fn each_broken_invariant_is_a_finding() {
        let superuser = RoleFacts {
            superuser: true,
            ..role()
        };
        assert_eq!(
            audit(&superuser, Some(good())),
            [Finding::Superuser { role: "app".into() }]
        );
        let bypass = RoleFacts {
            bypass_rls: true,
            ..role()
        };
        assert_eq!(
            audit(&bypass, Some(good())),
            [Finding::BypassRls { role: "app".into() }]
        );
        assert_eq!(
            audit(&role(), None),
            [Finding::TableMissing { table: "invoices" }]
        );

        let disabled = TableFacts {
            rls: false,
            ..good()
        };
        assert_eq!(
            audit(&role(), Some(disabled)),
            [Finding::RlsDisabled { table: "invoices" }]
        );
        let unforced = TableFacts {
            forced: false,
            ..good()
        };
        assert_eq!(
            audit(&role(), Some(unforced)),
            [Finding::RlsNotForced { table: "invoices" }]
        );
        let owned = TableFacts {
            forced: false,
            owned_by_current_role: true,
            ..good()
        };
        assert_eq!(
            audit(&role(), Some(owned)),
            [Finding::OwnerBypasses { table: "invoices" }]
        );

        let missing = |policies| audit(&role(), Some(TableFacts { policies, ..good() }));
        let policy_missing = Finding::PolicyMissing {
            table: "invoices",
            expected: EXPECTED.into(),
        };
        assert_eq!(missing(vec![]).first(), Some(&policy_missing));
        // Reads only, writes unchecked.
        assert_eq!(
            missing(vec![policy(TENANT_POLICY, "*", true, EXPECTED, "")]).first(),
            Some(&policy_missing)
        );
        // SELECT only.
        assert_eq!(
            missing(vec![policy(TENANT_POLICY, "r", true, EXPECTED, EXPECTED)]).first(),
            Some(&policy_missing)
        );
        // Another predicate under our name.
        let wrong = "(tenant_id IS NOT NULL)";
        assert_eq!(
            missing(vec![policy(TENANT_POLICY, "*", true, wrong, wrong)]).first(),
            Some(&policy_missing)
        );

        let mut opened = good();
        opened
            .policies
            .push(policy("support_sees_all", "r", true, "true", ""));
        assert_eq!(
            audit(&role(), Some(opened)),
            [Finding::ExtraPermissivePolicy {
                table: "invoices",
                policy: "support_sees_all".into()
            }]
        );
    }

    #[test]
    fn all_findings_are_reported_together() {
        let superuser = RoleFacts {
            superuser: true,
            bypass_rls: true,
            ..role()
        };
        let bare = TableFacts {
            rls: false,
            forced: false,
            owned_by_current_role: true,
            policies: vec![],
            foreign_keys: vec![],
        };
        let found = audit(&superuser, Some(bare));
        assert_eq!(found.len(), 5, "{found:?}");
        let message = Findings(found).to_string();
        assert!(
            message.contains("superuser") && message.contains("FORCE"),
            "{message}"
        );
    }
}
