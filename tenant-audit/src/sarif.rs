//! [`sarif`]: the inventory as a SARIF 2.1.0 log, for code-scanning tools to show new sites on
//! a pull request.

use serde_json::{Value, json};

use crate::{Finding, Kind};

/// What each kind means, for a code-scanning tool's rule list.
fn description(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Trusted => (
            "A tenant context minted without verification",
            "TenantCtx::trusted vouches for the tenant itself; only a verifier should mint a context (a claim checked against the registry).",
        ),
        Kind::System => (
            "A cross-tenant system context",
            "SystemCtx::new grants cross-tenant reads; every use is audited, and each new one deserves review.",
        ),
        Kind::Provision => (
            "A provisioning context (schema DDL, migrations)",
            "ProvisionCtx::new grants schema DDL and migrations across tenants.",
        ),
        Kind::Activity => (
            "A system activity",
            "#[activity(system = ..)]: the worker makes a SystemCtx for this activity.",
        ),
        Kind::Verify => (
            "A claim or request verified into a context",
            "Verification mints a TenantCtx from a claim; check that the caller is authenticated.",
        ),
        Kind::Registry => (
            "A hand-written tenant registry",
            "Verification trusts the registry; a registry written by hand can vouch for any tenant.",
        ),
        Kind::Sign => (
            "A signed claim or system token",
            "A claim or system token a worker will act on, minted with a claim key.",
        ),
        Kind::Unfenced => (
            "A tenant's pool outside the placement fence",
            "PoolSet::unfenced_pool: a write here after a move lands in the database the tenant left. Write in PoolSet::begin's transaction; read through PoolSet::route.",
        ),
        Kind::Sql => (
            "SQL the types do not check for the tenant",
            "Plain sqlx: its tenant predicate is the author's to write. Use tenant::sqlx::query! (checked) on tenant tables.",
        ),
    }
}

/// The findings as one SARIF 2.1.0 run of the tool `tenant-audit`: one rule per [`Kind`], one
/// result per site (level `warning` for minted authority and unchecked SQL alike), with the
/// file relative to the scanned root (`%SRCROOT%`) and its line.
///
/// ```
/// use tenant_audit::{sarif, Finding, Kind};
///
/// let log = sarif(&[Finding {
///     path: "src/main.rs".into(), line: 7, column: 13,
///     kind: Kind::Trusted, detail: "TenantCtx::trusted(id, schema, plan)".into(),
/// }]);
/// assert_eq!(log["version"], "2.1.0");
/// let result = &log["runs"][0]["results"][0];
/// assert_eq!(result["ruleId"], "trusted");
/// assert_eq!(result["locations"][0]["physicalLocation"]["region"]["startLine"], 7);
/// ```
pub fn sarif(findings: &[Finding]) -> Value {
    let rules: Vec<Value> = Kind::ALL
        .iter()
        .map(|&kind| {
            let (short, full) = description(kind);
            json!({
                "id": kind.name(),
                "name": kind.name(),
                "shortDescription": { "text": short },
                "fullDescription": { "text": full },
                "defaultConfiguration": { "level": "warning" },
            })
        })
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|finding| {
            let index = Kind::ALL
                .iter()
                .position(|&k| k == finding.kind)
                .unwrap_or_default();
            json!({
                "ruleId": finding.kind.name(),
                "ruleIndex": index,
                "level": "warning",
                "message": {
                    "text": format!("{}: {}", description(finding.kind).0, finding.detail)
                },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": finding.path, "uriBaseId": "%SRCROOT%" },
                        "region": { "startLine": finding.line, "startColumn": finding.column },
                    }
                }],
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "tenant-audit",
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": env!("CARGO_PKG_REPOSITORY"),
                    "rules": rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}
