use super::rules::*;
use crate::repo::rls::TENANT_POLICY;

const EXPECTED: &str = "(tenant_id = ( SELECT tenant_rls.current_tenant() AS current_tenant))";

fn role() -> RoleFacts {
    RoleFacts {
        name: "app".into(),
        superuser: false,
        bypass_rls: false,
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
