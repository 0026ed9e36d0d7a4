//! The audit's rules: what the catalog must say, as a pure function of the facts read from it, so
//! every rule has a unit test without a server that breaks it.

use std::fmt;

use crate::repo::rls::{EXTENSION_SETTING, TENANT_POLICY, TENANT_SETTING};

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
    /// The audit was given no entity: it would have checked the role alone and passed for
    /// tables it never looked at.
    #[error(
        "no entity was given to the audit, so it checked no table; add each tenant table with .entity::<E>()"
    )]
    NoEntities,
    /// The connected role is a member, directly or through other roles, of a superuser or
    /// BYPASSRLS role. Those attributes are not inherited, but a member that may `SET ROLE` to
    /// it leaves row-level security behind with one statement.
    #[error(
        "role `{role}` is a member of `{member_of}` ({attribute}) through {}{}; REVOKE the membership",
        path.join(" -> "),
        if *can_set_role { ", and can SET ROLE to it, which row-level security does not apply to" } else { " (SET ROLE is not granted on this path, but the membership is one GRANT away from it)" }
    )]
    MemberOfBypassingRole {
        /// The connected role.
        role: String,
        /// The superuser or BYPASSRLS role.
        member_of: String,
        /// `SUPERUSER`, `BYPASSRLS` or both.
        attribute: &'static str,
        /// The chain of memberships, from the connected role to `member_of`.
        path: Vec<String>,
        /// Whether every grant on the path allows `SET ROLE` (always, before PostgreSQL 16).
        can_set_role: bool,
    },
    /// A tenant table's owner is the connected role, or a role it is a member of. The owner may
    /// `ALTER TABLE .. NO FORCE ROW LEVEL SECURITY`, drop the policy or disable row-level
    /// security: forcing it today protects nothing from the owner tomorrow.
    #[error(
        "table `{table}` is owned by `{owner}`, which role `{role}` is or is a member of: the owner can ALTER TABLE .. NO FORCE ROW LEVEL SECURITY or drop the policy; connect as a role that owns nothing"
    )]
    OwnsTable {
        /// The table.
        table: &'static str,
        /// The table's owner.
        owner: String,
        /// The connected role.
        role: String,
    },
    /// The tenant setting has a value outside any transaction: a default for the role or the
    /// database (`ALTER ROLE .. SET`, `ALTER DATABASE .. SET`, both in `pg_db_role_setting`),
    /// or on this very connection. A connection then starts bound to a tenant, and a raw query
    /// outside a `TenantTx` sees that tenant's rows instead of none.
    #[error(
        "`{setting}` is set outside any transaction by {scope}: a connection starts bound to a tenant; RESET it"
    )]
    TenantSettingDefault {
        /// The setting.
        setting: &'static str,
        /// Where it is set, e.g. `ALTER ROLE "app" SET` or `this connection`.
        scope: String,
    },
    /// An object of the `tenant_rls` schema (the schema, the key table, a function) is owned by
    /// the connected role or a role it is a member of: that role can read the key, or replace
    /// the function that checks it, and so enter any tenant.
    #[error(
        "{object} is owned by `{owner}`, which role `{role}` is or is a member of: it can read the row-level security key or replace its check, and enter any tenant; give it to the role that ran RowSecurity::install"
    )]
    OwnsRowSecurity {
        /// The connected role.
        role: String,
        /// The object, e.g. `function tenant_rls.current_tenant()`.
        object: String,
        /// Its owner.
        owner: String,
    },
    /// The `tenant_rls` C extension's version is installed (`RowSecurity::install`), but its
    /// setting `tenant_rls.tenant` is not a superuser-only one in this session: the library
    /// loaded is not the one from `tenant-sqlx/pg`, and raw SQL could set the tenant.
    #[error(
        "tenant_rls.tenant is not a superuser-only setting (context `{context}`): the tenant_rls library is not tenant-sqlx's; reinstall it from tenant-sqlx/pg"
    )]
    TenantSettingNotReserved {
        /// `pg_settings.context` of the setting, or `missing`.
        context: String,
    },
    /// The connected role may create temporary tables in the database. A temporary table has no
    /// row-level security, and one named like a tenant table shadows it wherever the search
    /// path does not name `pg_temp` last.
    #[error(
        "role `{role}` may create temporary tables in database `{database}`, which have no row-level security and can shadow tenant tables; REVOKE TEMPORARY ON DATABASE .. FROM PUBLIC (and from the role)"
    )]
    TempPrivilege {
        /// The connected role.
        role: String,
        /// The database.
        database: String,
    },
    /// The audit was told ([`IsolationAudit::row_security`](crate::IsolationAudit::row_security))
    /// that `RowSecurity` may write text credentials into BEGIN (it does not take
    /// [`two_round_trips`](crate::RowSecurity::two_round_trips)), and the connected role's
    /// sessions in this database disagree on `track_activities`: some publish their query texts
    /// in `pg_stat_activity`, others hide them (a superuser changed the setting since some
    /// logged in). A text credential sent to a publishing session is refused there, but shows
    /// in `pg_stat_activity` until that session overwrites it, and a hiding session of the same
    /// database and role would accept it.
    #[error(
        "sessions of role `{role}` in this database disagree on track_activities (some publish their query texts, others hide them), and RowSecurity may write credentials into query texts: restart the pools so that every session has the role's setting, rotate the key if texts were published, or begin in two round trips"
    )]
    QueryTextsVisible {
        /// The connected role.
        role: String,
    },
    /// A view over a tenant table is owned by a superuser or BYPASSRLS role and does not run
    /// with its caller's rights (`security_invoker`): it shows every tenant's rows, to whoever
    /// may query it or a view over it. A materialized view (over the table, or over views of it)
    /// holds what its owner saw when it was refreshed.
    #[error(
        "{kind} `{view}` over table `{table}` is owned by `{owner}`, which bypasses row-level security, and runs with its owner's rights: it shows every tenant's rows; make it security_invoker, or change its owner"
    )]
    BypassingView {
        /// The table.
        table: &'static str,
        /// The view, as `regclass` prints it.
        view: String,
        /// `view` or `materialized view`.
        kind: &'static str,
        /// The view's owner.
        owner: String,
    },
    /// A `SECURITY DEFINER` function that reads a tenant table (by dependency or by name in its
    /// body) is owned by a superuser or BYPASSRLS role: it runs with its owner's rights, which
    /// row-level security does not limit.
    #[error(
        "SECURITY DEFINER function `{function}` over table `{table}` is owned by `{owner}`, which bypasses row-level security: calling it reads every tenant's rows; make it SECURITY INVOKER, change its owner, or REVOKE EXECUTE"
    )]
    BypassingFunction {
        /// The table.
        table: &'static str,
        /// The function, as `regprocedure` prints it.
        function: String,
        /// The function's owner.
        owner: String,
    },
}

/// What the audit read from the catalog about the connected role.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct RoleFacts {
    pub(crate) name: String,
    pub(crate) superuser: bool,
    pub(crate) bypass_rls: bool,
    /// Every role it is a member of, directly or not, with the shortest path to it.
    pub(crate) memberships: Vec<Membership>,
    /// `has_database_privilege(current_database(), 'TEMP')`, and the database's name.
    pub(crate) temp: Option<String>,
    /// Where the tenant setting is set outside a transaction (`pg_db_role_setting`, and the
    /// connection's own value).
    pub(crate) tenant_defaults: Vec<String>,
    /// The same for the C extension's `tenant_rls.tenant` (which only a superuser can set).
    pub(crate) extension_defaults: Vec<String>,
    /// The objects of the `tenant_rls` schema and their owners.
    pub(crate) rls_owners: Vec<(String, String)>,
    /// With the C extension's version installed, `tenant_rls.tenant`'s context when it is not
    /// `superuser` (`missing` when the setting does not exist once the library is loaded).
    pub(crate) unreserved_setting: Option<String>,
    /// The audit was told that `RowSecurity` writes credentials into query texts.
    pub(crate) credential_in_query_text: bool,
    /// Some of the role's sessions in this database publish their query texts and others hide
    /// them (`track_activities`).
    pub(crate) query_texts_mixed: bool,
}

/// One role the connected role is a member of (`pg_auth_members`, followed recursively).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Membership {
    pub(crate) role: String,
    pub(crate) superuser: bool,
    pub(crate) bypass_rls: bool,
    /// From the connected role to `role`, both included.
    pub(crate) path: Vec<String>,
    pub(crate) can_set_role: bool,
}

/// What the audit read from the catalog about one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableFacts {
    pub(crate) rls: bool,
    pub(crate) forced: bool,
    /// The table's owner.
    pub(crate) owner: String,
    /// (name, command, permissive, USING, WITH CHECK) of each policy.
    pub(crate) policies: Vec<PolicyFacts>,
    /// The table's foreign keys.
    pub(crate) foreign_keys: Vec<ForeignKeyFacts>,
    /// The views and materialized views over it, directly or through other views.
    pub(crate) views: Vec<ViewFacts>,
    /// `SECURITY DEFINER` functions owned by a bypassing role that depend on the table or name
    /// it in their body: (function, owner).
    pub(crate) definer_functions: Vec<(String, String)>,
}

/// A view over an audited table, from `pg_rewrite`'s dependencies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ViewFacts {
    pub(crate) name: String,
    /// `true` for a materialized view.
    pub(crate) materialized: bool,
    /// It names the table itself, rather than reading it through another view.
    pub(crate) direct: bool,
    pub(crate) owner: String,
    /// The owner is a superuser or has BYPASSRLS.
    pub(crate) owner_bypasses: bool,
    /// `reloptions`, e.g. `security_invoker=true`.
    pub(crate) options: Vec<String>,
}

impl ViewFacts {
    /// Whether it reads the table with its owner's rights. A view's rights reach only the
    /// relations it names: through another view, the rows are that view's to limit (a
    /// `security_invoker` view there runs as the querying user, not as the outer owner). A
    /// materialized view is refreshed as its owner, through every view below it.
    fn reads_as_owner(&self) -> bool {
        self.materialized || (self.direct && !self.runs_as_invoker())
    }

    fn runs_as_invoker(&self) -> bool {
        !self.materialized
            && self.options.iter().any(|option| {
                let option = option.to_ascii_lowercase();
                ["true", "on", "1", "yes"]
                    .iter()
                    .any(|yes| option == format!("security_invoker={yes}"))
            })
    }
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
    if tables.is_empty() {
        found.push(Finding::NoEntities);
    }
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
    for membership in &role.memberships {
        let attribute = match (membership.superuser, membership.bypass_rls) {
            (true, true) => "SUPERUSER, BYPASSRLS",
            (true, false) => "SUPERUSER",
            (false, true) => "BYPASSRLS",
            (false, false) => continue,
        };
        found.push(Finding::MemberOfBypassingRole {
            role: role.name.clone(),
            member_of: membership.role.clone(),
            attribute,
            path: membership.path.clone(),
            can_set_role: membership.can_set_role,
        });
    }
    for scope in &role.tenant_defaults {
        found.push(Finding::TenantSettingDefault {
            setting: TENANT_SETTING,
            scope: scope.clone(),
        });
    }
    for scope in &role.extension_defaults {
        found.push(Finding::TenantSettingDefault {
            setting: EXTENSION_SETTING,
            scope: scope.clone(),
        });
    }
    for (object, owner) in &role.rls_owners {
        if *owner == role.name || role.memberships.iter().any(|m| m.role == *owner) {
            found.push(Finding::OwnsRowSecurity {
                role: role.name.clone(),
                object: object.clone(),
                owner: owner.clone(),
            });
        }
    }
    if let Some(context) = &role.unreserved_setting {
        found.push(Finding::TenantSettingNotReserved {
            context: context.clone(),
        });
    }
    if let Some(database) = &role.temp {
        found.push(Finding::TempPrivilege {
            role: role.name.clone(),
            database: database.clone(),
        });
    }
    if role.credential_in_query_text && role.query_texts_mixed {
        found.push(Finding::QueryTextsVisible {
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
        let owned_by_role = facts.owner == role.name;
        if !facts.forced {
            found.push(if owned_by_role {
                Finding::OwnerBypasses { table }
            } else {
                Finding::RlsNotForced { table }
            });
        }
        // A superuser "is a member" of every role; that it is a superuser says it all.
        let member_of_owner = role.memberships.iter().any(|m| m.role == facts.owner);
        if (owned_by_role && facts.forced) || (member_of_owner && !role.superuser) {
            found.push(Finding::OwnsTable {
                table,
                owner: facts.owner.clone(),
                role: role.name.clone(),
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
        for view in &facts.views {
            // Whether the connected role may query it is not asked: another view, or a
            // function, may query it for the role.
            if view.owner_bypasses && view.reads_as_owner() {
                found.push(Finding::BypassingView {
                    table,
                    view: view.name.clone(),
                    kind: if view.materialized {
                        "materialized view"
                    } else {
                        "view"
                    },
                    owner: view.owner.clone(),
                });
            }
        }
        for (function, owner) in &facts.definer_functions {
            found.push(Finding::BypassingFunction {
                table,
                function: function.clone(),
                owner: owner.clone(),
            });
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
