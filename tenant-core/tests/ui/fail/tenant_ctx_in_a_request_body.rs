// A request type that deserialises a TenantCtx would let a client pick its tenant
// (`?tenant_id=globex&schema_name=tenant_globex` or a JSON body): a wire carries a TenantClaim,
// which only the registry turns into a context.
use tenant::TenantCtx;

#[derive(serde::Deserialize)]
pub struct CreateInvoice {
    pub ctx: TenantCtx,
    pub amount_cents: i64,
}

fn main() {}
