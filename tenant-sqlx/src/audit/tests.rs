use super::rules::*;
use crate::repo::rls::TENANT_POLICY;

const EXPECTED: &str = "(tenant_id = ( SELECT tenant_rls.current_tenant() AS current_tenant))";

fn role() -> RoleFacts {
    RoleFacts {
        name: "app".into(),
        ..RoleFacts::default()
    }
}

fn policy(name: &str, command: &str, permissive: bool, using: &str, check: &str) -> PolicyFacts {
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
        owner: "owner".into(),
        policies: vec![policy(TENANT_POLICY, "*", true, EXPECTED, EXPECTED)],
        foreign_keys: vec![],
        views: vec![],
        definer_functions: vec![],
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
        owner: "app".into(),
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
        owner: "app".into(),
        policies: vec![],
        foreign_keys: vec![],
        views: vec![],
        definer_functions: vec![],
    };
    let found = audit(&superuser, Some(bare));
    assert_eq!(found.len(), 5, "{found:?}");
    let message = Findings(found).to_string();
    assert!(
        message.contains("superuser") && message.contains("FORCE"),
        "{message}"
    );
}

fn member_of(role: &str, superuser: bool, bypass_rls: bool, path: &[&str]) -> Membership {
    Membership {
        role: role.into(),
        superuser,
        bypass_rls,
        path: path.iter().map(|r| (*r).to_owned()).collect(),
        can_set_role: true,
    }
}

#[test]
fn an_audit_of_no_entity_fails() {
    assert_eq!(findings(&role(), &[]), [Finding::NoEntities]);
}

#[test]
fn a_membership_in_a_bypassing_role_is_a_finding_with_its_path() {
    let app = RoleFacts {
        memberships: vec![
            member_of("readers", false, false, &["app", "readers"]),
            member_of("ops", false, false, &["app", "ops"]),
            member_of("admins", true, false, &["app", "ops", "admins"]),
            Membership {
                can_set_role: false,
                ..member_of("etl", false, true, &["app", "etl"])
            },
        ],
        ..role()
    };
    let found = audit(&app, Some(good()));
    assert_eq!(
        found,
        [
            Finding::MemberOfBypassingRole {
                role: "app".into(),
                member_of: "admins".into(),
                attribute: "SUPERUSER",
                path: vec!["app".into(), "ops".into(), "admins".into()],
                can_set_role: true,
            },
            Finding::MemberOfBypassingRole {
                role: "app".into(),
                member_of: "etl".into(),
                attribute: "BYPASSRLS",
                path: vec!["app".into(), "etl".into()],
                can_set_role: false,
            },
        ]
    );
    let message = Findings(found).to_string();
    assert!(message.contains("app -> ops -> admins"), "{message}");
    assert!(message.contains("can SET ROLE"), "{message}");
}

#[test]
fn owning_a_forced_table_or_being_a_member_of_its_owner_is_a_finding() {
    let owns = |owner: &str, role: &RoleFacts| {
        audit(
            role,
            Some(TableFacts {
                owner: owner.into(),
                ..good()
            }),
        )
    };
    let owns_table = |owner: &str| Finding::OwnsTable {
        table: "invoices",
        owner: owner.into(),
        role: "app".into(),
    };
    assert_eq!(owns("app", &role()), [owns_table("app")]);
    let member = RoleFacts {
        memberships: vec![member_of("owner", false, false, &["app", "owner"])],
        ..role()
    };
    assert_eq!(owns("owner", &member), [owns_table("owner")]);
    // Not forced and owned: the sharper finding alone.
    let unforced = TableFacts {
        forced: false,
        owner: "app".into(),
        ..good()
    };
    assert_eq!(
        audit(&role(), Some(unforced)),
        [Finding::OwnerBypasses { table: "invoices" }]
    );
    assert_eq!(owns("someone_else", &role()), []);
}

#[test]
fn a_tenant_setting_outside_a_transaction_and_temp_are_findings() {
    let app = RoleFacts {
        tenant_defaults: vec![r#"ALTER ROLE app SET"#.into()],
        temp: Some("shop".into()),
        ..role()
    };
    assert_eq!(
        audit(&app, Some(good())),
        [
            Finding::TenantSettingDefault {
                setting: "app.tenant_id",
                scope: "ALTER ROLE app SET".into(),
            },
            Finding::TempPrivilege {
                role: "app".into(),
                database: "shop".into(),
            },
        ]
    );
}

#[test]
fn a_view_or_definer_function_owned_by_a_bypassing_role_is_a_finding() {
    let view = |options: &[&str], materialized, owner_bypasses, direct| ViewFacts {
        name: "all_invoices".into(),
        materialized,
        direct,
        owner: "admin".into(),
        owner_bypasses,
        options: options.iter().map(|o| (*o).to_owned()).collect(),
    };
    let with = |views, definer_functions| {
        audit(
            &role(),
            Some(TableFacts {
                views,
                definer_functions,
                ..good()
            }),
        )
    };
    let bypassing = |kind| Finding::BypassingView {
        table: "invoices",
        view: "all_invoices".into(),
        kind,
        owner: "admin".into(),
    };
    assert_eq!(
        with(vec![view(&[], false, true, true)], vec![]),
        [bypassing("view")]
    );
    assert_eq!(
        with(
            vec![view(&["security_invoker=true"], true, true, true)],
            vec![]
        ),
        [bypassing("materialized view")]
    );
    // A materialized view is refreshed as its owner, through other views too.
    assert_eq!(
        with(vec![view(&[], true, true, false)], vec![]),
        [bypassing("materialized view")]
    );
    // The caller's rights, an owner under row-level security, or a view that reads the table
    // only through another view (whose own rights decide).
    assert_eq!(
        with(
            vec![view(&["security_invoker=on"], false, true, true)],
            vec![]
        ),
        []
    );
    assert_eq!(with(vec![view(&[], false, false, true)], vec![]), []);
    assert_eq!(with(vec![view(&[], false, true, false)], vec![]), []);
    assert_eq!(
        with(vec![], vec![("count_all()".into(), "postgres".into())]),
        [Finding::BypassingFunction {
            table: "invoices",
            function: "count_all()".into(),
            owner: "postgres".into(),
        }]
    );
}

#[test]
fn text_credentials_where_sessions_disagree_on_query_texts_are_a_finding() {
    let with = |credential_in_query_text, query_texts_mixed| {
        audit(
            &RoleFacts {
                credential_in_query_text,
                query_texts_mixed,
                ..role()
            },
            Some(good()),
        )
    };
    assert_eq!(
        with(true, true),
        [Finding::QueryTextsVisible { role: "app".into() }]
    );
    // Bound credentials only (two round trips): no text to replay; sessions that agree: a text
    // is either refused everywhere (published) or never shown (hidden).
    assert_eq!(with(false, true), []);
    assert_eq!(with(true, false), []);
}

#[test]
fn owning_tenant_rls_or_an_unreserved_setting_or_its_default_is_a_finding() {
    let owners = vec![
        ("schema tenant_rls".to_owned(), "owner".to_owned()),
        (
            "function tenant_rls.enter(text,text)".to_owned(),
            "postgres".to_owned(),
        ),
        ("table tenant_rls.key".to_owned(), "keys".to_owned()),
        (
            "function tenant_rls.current_tenant()".to_owned(),
            "app".to_owned(),
        ),
    ];
    let member_of_keys = Membership {
        role: "keys".into(),
        superuser: false,
        bypass_rls: false,
        path: vec!["app".into(), "keys".into()],
        can_set_role: true,
    };
    let facts = RoleFacts {
        rls_owners: owners.clone(),
        memberships: vec![member_of_keys],
        ..role()
    };
    assert_eq!(
        audit(&facts, Some(good())),
        [
            Finding::OwnsRowSecurity {
                role: "app".into(),
                object: "table tenant_rls.key".into(),
                owner: "keys".into(),
            },
            Finding::OwnsRowSecurity {
                role: "app".into(),
                object: "function tenant_rls.current_tenant()".into(),
                owner: "app".into(),
            },
        ]
    );
    // Owned by others (the installing role, the bootstrap superuser): nothing.
    let others = RoleFacts {
        rls_owners: owners[..2].to_vec(),
        ..role()
    };
    assert_eq!(audit(&others, Some(good())), []);

    let unreserved = RoleFacts {
        unreserved_setting: Some("user".into()),
        extension_defaults: vec!["ALTER ROLE app SET".into()],
        ..role()
    };
    assert_eq!(
        audit(&unreserved, Some(good())),
        [
            Finding::TenantSettingDefault {
                setting: "tenant_rls.tenant",
                scope: "ALTER ROLE app SET".into(),
            },
            Finding::TenantSettingNotReserved {
                context: "user".into()
            },
        ]
    );
}
