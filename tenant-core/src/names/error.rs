//! Why a collection name was refused, and the limits it is checked against: below
//! [`crate::Error`], which wraps it, and [`super`], which returns it.

/// The longest [`CollectionName`](super::CollectionName), in characters (Chroma's limit).
pub const COLLECTION_NAME_MAX_LEN: usize = 63;

/// The shortest [`CollectionName`](super::CollectionName), in characters (Chroma's limit; every rendered name is longer).
pub const COLLECTION_NAME_MIN_LEN: usize = 3;

/// Why a relative collection name was refused. The name is never echoed whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CollectionNameError {
    /// The relative name was empty.
    #[error("collection name is empty")]
    Empty,
    /// The relative name holds a character outside `[a-zA-Z0-9_-]`.
    #[error(
        "collection name has {found:?} at byte {position}; only ASCII letters, digits, '_' and '-' are allowed"
    )]
    InvalidChar {
        /// The first offending character.
        found: char,
        /// Its byte offset in the relative name.
        position: usize,
    },
    /// The relative name ends with `_` or `-`: the store wants a letter or digit last.
    #[error("collection name must end with a letter or digit")]
    BadLastChar,
    /// The rendered name would be longer than [`COLLECTION_NAME_MAX_LEN`].
    #[error(
        "collection name would be {len} characters with the tenant prefix; at most {COLLECTION_NAME_MAX_LEN} are allowed"
    )]
    TooLong {
        /// Length the rendered name would have.
        len: usize,
    },
}
