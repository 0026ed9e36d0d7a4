//! [`PageParams`]: a keyset page's cursor and limit from the query string, refused with the
//! library's problem rather than axum's `text/plain`.

use std::fmt;

use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use tenant_http::Problem;

use crate::error::Error;
use crate::repo::{Cursor, CursorError, Order, PageRequest};

/// The `cursor` and `limit` of a page request, from the query string (`?cursor=..&limit=50`):
/// an extractor. Other parameters are left to the handler (axum's `Query` ignores these two
/// unless it denies unknown fields).
///
/// A malformed cursor, a `limit` that is not a number, or either given twice is answered `400`
/// with an `application/problem+json` body ([`PageParamsRejection`]). Parsing only checks the
/// cursor's form: [`Repo::page`](crate::Repo::page) checks its tag, so another tenant's or an
/// altered cursor is [`Error::Cursor`], whose problem is the same `400 invalid-cursor`.
///
/// ```
/// use axum::extract::FromRequestParts;
/// use tenant::sqlx::axum::PageParams;
/// # use tenant::{tenant_scoped, TenantId};
/// # #[tenant_scoped(table = "invoices")]
/// # pub struct Invoice { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (mut parts, ()) = http::Request::get("/invoices?limit=500").body(())?.into_parts();
/// let params = PageParams::<Invoice>::from_request_parts(&mut parts, &()).await.unwrap();
/// // At most 100 rows, 20 without a limit.
/// let request = params.request(Invoice::columns().id.asc(), 20, 100);
/// # let _ = request;
///
/// let (mut parts, ()) = http::Request::get("/invoices?cursor=not*base64").body(())?.into_parts();
/// let refused = PageParams::<Invoice>::from_request_parts(&mut parts, &()).await.unwrap_err();
/// assert_eq!(refused.problem().type_uri, "urn:tenant:problem:invalid-cursor");
/// # Ok(())
/// # }
/// ```
pub struct PageParams<E> {
    /// The cursor of the previous page's [`next`](crate::Page::next); `None` for the first page.
    pub cursor: Option<Cursor<E>>,
    /// The page size asked for, if any.
    pub limit: Option<u64>,
}

impl<E> PageParams<E> {
    /// The request for this page in `order`: at most `limit` rows (`default_limit` without one),
    /// and never more than `max_limit`, after the cursor.
    pub fn request(self, order: Order<E>, default_limit: u64, max_limit: u64) -> PageRequest<E> {
        let limit = self.limit.unwrap_or(default_limit).min(max_limit);
        PageRequest::new(order, limit).after(self.cursor)
    }
}

impl<E> fmt::Debug for PageParams<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PageParams")
            .field("cursor", &self.cursor.as_ref().map(ToString::to_string))
            .field("limit", &self.limit)
            .finish()
    }
}

impl<E, S: Send + Sync> FromRequestParts<S> for PageParams<E> {
    type Rejection = PageParamsRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let mut params = PageParams {
            cursor: None,
            limit: None,
        };
        let query = parts.uri.query().unwrap_or("");
        let (mut cursor, mut limit) = (None, None);
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let (slot, name) = match &*key {
                "cursor" => (&mut cursor, "cursor"),
                "limit" => (&mut limit, "limit"),
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(PageParamsRejection::Repeated(name));
            }
        }
        // `?cursor=` is the first page, as a form that always sends the field has it.
        if let Some(text) = cursor.filter(|text| !text.is_empty()) {
            params.cursor = Some(text.parse().map_err(PageParamsRejection::Cursor)?);
        }
        if let Some(text) = limit {
            params.limit = Some(text.parse().map_err(|_| PageParamsRejection::Limit)?);
        }
        Ok(params)
    }
}

/// Why [`PageParams`] refused a query string: `400` with a problem body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PageParamsRejection {
    /// The `cursor` is not a page cursor's text.
    #[error(transparent)]
    Cursor(CursorError),
    /// The `limit` is not a whole number from 0 to 4294967295.
    #[error("the page limit is not a whole number")]
    Limit,
    /// A parameter was given twice.
    #[error("the query string gives `{0}` twice")]
    Repeated(&'static str),
}

impl PageParamsRejection {
    /// The problem: status 400, class `invalid-cursor` (as a cursor [`Repo::page`]
    /// refuses, [`Error::problem`]) or `invalid-page-request`.
    ///
    /// [`Repo::page`]: crate::Repo::page
    pub fn problem(&self) -> Problem {
        match self {
            PageParamsRejection::Cursor(error) => Error::Cursor(error.clone()).problem(),
            PageParamsRejection::Limit | PageParamsRejection::Repeated(_) => Problem {
                type_uri: "urn:tenant:problem:invalid-page-request",
                title: "Invalid page request",
                status: 400,
                detail: self.to_string(),
            },
        }
    }
}

impl IntoResponse for PageParamsRejection {
    fn into_response(self) -> Response {
        super::problem_response(&self.problem(), None)
    }
}
