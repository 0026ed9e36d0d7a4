//! [`CursorError`]: why a cursor or a cursor key was refused.

/// The shortest cursor key accepted, in bytes: HMAC-SHA256's output size.
pub(crate) const MIN_KEY_LEN: usize = 32;

/// Why a page cursor or a cursor key was refused. The variants say what was wrong, never which
/// tenant, order or filter the cursor was minted for. A repository returns it as
/// [`Error::Cursor`](crate::Error::Cursor).
///
/// ```
/// # use tenant::{tenant_scoped, Plan, TenantCtx, TenantId};
/// use tenant::sqlx::{CursorError, Error, PageRequest};
/// # #[tenant_scoped(table = "invoices")]
/// # pub struct Invoice { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
/// let mut invoices = InvoiceRepo::new(&pool);
/// invoices.create_table().await?;
/// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
/// let globex = TenantCtx::trusted("globex".parse()?, "tenant_globex".parse()?, Plan::Free);
/// for id in 1..=3 {
///     invoices.insert(&acme, NewInvoice { id }).await?;
/// }
/// let by_id = || PageRequest::new(Invoice::columns().id.asc(), 2);
/// let acmes_cursor = invoices.page(&acme, by_id()).await?.next;
///
/// // Another tenant cannot continue acme's listing.
/// let stolen = invoices.page(&globex, by_id().after(acmes_cursor)).await;
/// assert!(matches!(stolen, Err(Error::Cursor(CursorError::Invalid))));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CursorError {
    /// The text is not a cursor: empty, not base64url, too short or too long.
    #[error("not a page cursor: {reason}")]
    Malformed {
        /// What is wrong with the text.
        reason: &'static str,
    },
    /// The tag does not verify: the cursor was altered or truncated, or minted for another
    /// tenant, entity, order or filter, or under another key (another process, when no key is
    /// configured).
    #[error(
        "the page cursor does not verify: altered, or minted for another tenant, entity, order or filter, or under another key"
    )]
    Invalid,
    /// A value the cursor carries does not have the type of its column.
    #[error("the page cursor's value for column `{column}` does not have the column's type")]
    ValueType {
        /// The column.
        column: &'static str,
    },
    /// A [`CursorKey`](super::CursorKey) was given fewer than
    /// [`CursorKey::MIN_LEN`](super::CursorKey::MIN_LEN) bytes.
    #[error("a cursor key needs at least {MIN_KEY_LEN} bytes, got {len}")]
    KeyTooShort {
        /// The length given.
        len: usize,
    },
    /// No key was configured and the operating system's random source failed to make one.
    #[error("no cursor key configured, and the operating system's random source failed")]
    NoRandomKey,
    /// The process-wide key ([`CURSOR_KEY_ENV`](super::CURSOR_KEY_ENV)) is not base64 (standard
    /// or URL-safe, padded or not), or not valid UTF-8.
    #[error("the cursor key in {var} is not base64")]
    KeyNotBase64 {
        /// The variable read.
        var: &'static str,
    },
    /// [`CursorKey::install`](super::CursorKey::install) was given a key other than the one the
    /// process already signs cursors with (installed before, read from the environment, or
    /// the random default a page already used): cursors minted before would stop verifying.
    #[error(
        "the process already signs page cursors with another key (id {installed}); install the key once, at startup, before any page is read"
    )]
    KeyAlreadyInstalled {
        /// [`CursorKey::id`](super::CursorKey::id) of the key in use.
        installed: String,
    },
}
