// An activity that forgot the tenant: its input could cross the engine without one.
use tenant::activity;

#[activity]
pub async fn drop_schema(schema: String) -> Result<(), String> {
    let _ = schema;
    Ok(())
}

fn main() {}
