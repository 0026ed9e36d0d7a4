//! The audit's rules: what the catalog must say, as a pure function of the facts read from it, so
//! every rule has a unit test without a server that breaks it.

use std::fmt;

use crate::repo::rls::TENANT_POLICY;

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
