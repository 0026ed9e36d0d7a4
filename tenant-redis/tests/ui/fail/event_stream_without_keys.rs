// `EventStream::new` takes the signing keys: there is no unsigned stream, so no consumer that takes an envelope's tenant on its word.
use tenant::redis::EventStream;

async fn unsigned(conn: redis::aio::MultiplexedConnection) {
    let _stream = EventStream::new(conn, "invoices");
}

fn main() {
    drop(unsigned);
}
