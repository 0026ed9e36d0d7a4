//! Names derived from a tenant: [`ScopedKey`] for key-value stores and [`CollectionName`] for
//! vector and knowledge stores. Both are produced only by a [`TenantCtx`]
//! ([`TenantCtx::scoped_key`], [`TenantCtx::collection`]) and are rendered so that no choice of tenant
//! ids and relative names makes one tenant's name equal to another's.
//!
//! # Key scheme
//!
//! `ctx.scoped_key(key)` renders `t:{len}:{tenant_id}:{key}`, where `{len}` is the tenant id's length in
//! bytes, in decimal. The rendering can be read back unambiguously — the digits up to the first
//! `:` are the length, the next `{len}` bytes the tenant id, then one `:`, and the rest is the
//! relative key — so two different (tenant, key) pairs never render to the same key, whatever
//! the key contains (`:`, `*`, `../`, another tenant's whole rendered key). A tenant's keys all
//! start with its prefix `t:{len}:{tenant_id}:`, and no tenant's prefix is a prefix of another's
//! (`t:4:acme:` versus `t:9:acme-corp:`).
//!
//! # Collection scheme
//!
//! `ctx.collection(name)` renders `t{len}_{tenant_id}_{name}`, read back the same way. The result
//! fits the common limits of vector stores (Chroma's, which are the strictest of Chroma, Qdrant
//! and pgvector table names): 3 to [`COLLECTION_NAME_MAX_LEN`] characters of `[a-zA-Z0-9_-]`,
//! starting and ending with a letter or digit. So `name` must be non-empty, use only
//! `[a-zA-Z0-9_-]` and end with a letter or digit, and the whole must fit in 63 characters: a
//! long tenant id leaves less room for the name. Nothing is hashed or truncated; a name that does
//! not fit is a [`CollectionNameError`].

use std::fmt;

use crate::{Error, TenantCtx};

mod error;

pub use error::{COLLECTION_NAME_MAX_LEN, COLLECTION_NAME_MIN_LEN, CollectionNameError};

/// A key of one tenant in a key-value store such as Redis: `t:{len}:{tenant_id}:{key}` (see the
/// [module documentation](self) for why this is collision-free).
///
/// Only [`TenantCtx::scoped_key`] builds one; there is no conversion from a string, so a key cannot be
/// forged for another tenant.
///
/// ```
/// use tenant::{Plan, TenantCtx};
///
/// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
/// let key = acme.scoped_key("sessions:42")?;
/// assert_eq!(key.as_str(), "t:4:acme:sessions:42");
/// assert_eq!(key.relative(), "sessions:42");
/// assert_eq!(key.tenant_id(), acme.tenant_id());
/// # Ok::<(), tenant::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScopedKey {
    rendered: String,
    /// Byte offset of the relative key in `rendered`.
    relative_at: usize,
    tenant: crate::TenantId,
}

impl ScopedKey {
    /// The whole key, as stored.
    pub fn as_str(&self) -> &str {
        &self.rendered
    }

    /// The key relative to the tenant, as given to [`TenantCtx::scoped_key`].
    pub fn relative(&self) -> &str {
        &self.rendered[self.relative_at..]
    }

    /// The tenant the key belongs to.
    pub fn tenant_id(&self) -> &crate::TenantId {
        &self.tenant
    }
}

impl fmt::Display for ScopedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rendered)
    }
}

impl fmt::Debug for ScopedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScopedKey({:?})", self.rendered)
    }
}

#[cfg(feature = "redis")]
impl redis::ToRedisArgs for ScopedKey {
    fn write_redis_args<W>(&self, out: &mut W)
    where
        W: ?Sized + redis::RedisWrite,
    {
        out.write_arg(self.rendered.as_bytes());
    }
}

/// A collection of one tenant in a vector or knowledge store: `t{len}_{tenant_id}_{name}`, within
/// the limits in the [module documentation](self).
///
/// Only [`TenantCtx::collection`] builds one.
///
/// ```
/// use tenant::names::CollectionNameError;
/// use tenant::{Error, Plan, TenantCtx};
///
/// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
/// assert_eq!(acme.collection("docs")?.as_str(), "t4_acme_docs");
///
/// let err = acme.collection("docs/../globex").unwrap_err();
/// assert!(matches!(err, Error::InvalidCollectionName(CollectionNameError::InvalidChar { found: '/', .. })));
/// # Ok::<(), tenant::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CollectionName(String);

impl CollectionName {
    /// The collection name, as the store sees it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CollectionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CollectionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CollectionName({:?})", self.0)
    }
}

impl TenantCtx {
    /// `t:{len}:{tenant_id}:`, the prefix every [`ScopedKey`] of this tenant starts with and no
    /// other tenant's key does: what a scan of this tenant's keys matches.
    ///
    /// ```
    /// use tenant::{Plan, TenantCtx};
    ///
    /// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
    /// assert_eq!(acme.scoped_key_prefix(), "t:4:acme:");
    /// assert!(acme.scoped_key("x")?.as_str().starts_with(&acme.scoped_key_prefix()));
    /// # Ok::<(), tenant::Error>(())
    /// ```
    pub fn scoped_key_prefix(&self) -> String {
        let id = self.tenant_id().as_str();
        format!("t:{}:{id}:", id.len())
    }

    /// This tenant's key for `key`, relative to the tenant: `t:{len}:{tenant_id}:{key}`. Any
    /// non-empty text is a valid relative key, separators and glob characters included; an empty
    /// one is [`Error::EmptyScopedKey`].
    ///
    /// ```
    /// use tenant::{Plan, TenantCtx};
    ///
    /// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
    /// let corp = TenantCtx::trusted("acme-corp".parse()?, "tenant_acme_corp".parse()?, Plan::Free);
    /// assert_eq!(acme.scoped_key("*")?.as_str(), "t:4:acme:*");
    /// assert_eq!(corp.scoped_key("x")?.as_str(), "t:9:acme-corp:x");
    /// // A key that imitates another tenant's stays inside this tenant.
    /// assert_ne!(acme.scoped_key("-corp:x")?.as_str(), corp.scoped_key("x")?.as_str());
    /// assert!(acme.scoped_key("").is_err());
    /// # Ok::<(), tenant::Error>(())
    /// ```
    pub fn scoped_key(&self, key: &str) -> Result<ScopedKey, Error> {
        if key.is_empty() {
            return Err(Error::EmptyScopedKey);
        }
        let mut rendered = self.scoped_key_prefix();
        let relative_at = rendered.len();
        rendered.push_str(key);
        Ok(ScopedKey {
            rendered,
            relative_at,
            tenant: self.tenant_id().clone(),
        })
    }

    /// This tenant's collection `name` in a vector or knowledge store: `t{len}_{tenant_id}_{name}`,
    /// or a [`CollectionNameError`] when `name` or the whole breaks the limits in the
    /// [`names`](crate::names) module documentation.
    ///
    /// ```
    /// use tenant::names::CollectionNameError;
    /// use tenant::{Error, Plan, TenantCtx};
    ///
    /// let acme = TenantCtx::trusted("acme-eu".parse()?, "tenant_acme_eu".parse()?, Plan::Free);
    /// assert_eq!(acme.collection("Docs_v2")?.as_str(), "t7_acme-eu_Docs_v2");
    /// assert!(matches!(acme.collection("docs-"), Err(Error::InvalidCollectionName(CollectionNameError::BadLastChar))));
    /// let long = "x".repeat(60);
    /// assert!(matches!(
    ///     acme.collection(&long),
    ///     Err(Error::InvalidCollectionName(CollectionNameError::TooLong { len: 71 }))
    /// ));
    /// # Ok::<(), tenant::Error>(())
    /// ```
    pub fn collection(&self, name: &str) -> Result<CollectionName, Error> {
        let last = name.chars().next_back().ok_or(CollectionNameError::Empty)?;
        if let Some((position, found)) = name
            .char_indices()
            .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        {
            return Err(CollectionNameError::InvalidChar { found, position }.into());
        }
        if !last.is_ascii_alphanumeric() {
            return Err(CollectionNameError::BadLastChar.into());
        }
        let id = self.tenant_id().as_str();
        let rendered = format!("t{}_{id}_{name}", id.len());
        if rendered.len() > COLLECTION_NAME_MAX_LEN {
            return Err(CollectionNameError::TooLong {
                len: rendered.len(),
            }
            .into());
        }
        debug_assert!(rendered.len() >= COLLECTION_NAME_MIN_LEN);
        Ok(CollectionName(rendered))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::{Plan, TenantId};

    fn ctx(id: &str) -> TenantCtx {
        TenantCtx::trusted(id.parse().unwrap(), "tenant_x".parse().unwrap(), Plan::Free)
    }

    /// Reads a rendered key back into (tenant, relative key): the scheme is decodable, hence
    /// injective.
    fn decode_key(rendered: &str) -> (String, String) {
        let rest = rendered.strip_prefix("t:").unwrap();
        let (len, rest) = rest.split_once(':').unwrap();
        let len: usize = len.parse().unwrap();
        let (tenant, rest) = rest.split_at(len);
        (
            tenant.to_owned(),
            rest.strip_prefix(':').unwrap().to_owned(),
        )
    }

    fn decode_collection(rendered: &str) -> (String, String) {
        let rest = rendered.strip_prefix('t').unwrap();
        let (len, rest) = rest.split_once('_').unwrap();
        let len: usize = len.parse().unwrap();
        let (tenant, rest) = rest.split_at(len);
        (
            tenant.to_owned(),
            rest.strip_prefix('_').unwrap().to_owned(),
        )
    }

    #[test]
    fn keys_render_with_a_length_prefix() {
        assert_eq!(ctx("acme").scoped_key("a").unwrap().as_str(), "t:4:acme:a");
        let id = "a".repeat(63);
        assert_eq!(
            ctx(&id).scoped_key("k").unwrap().as_str(),
            format!("t:63:{id}:k")
        );
        assert!(matches!(
            ctx("acme").scoped_key(""),
            Err(Error::EmptyScopedKey)
        ));
    }

    #[test]
    fn adversarial_keys_do_not_collide() {
        let ids = [
            "a",
            "acme",
            "acme-corp",
            "acme-c",
            "t",
            "4",
            "44",
            "1-1",
            "0",
        ];
        let keys = [
            "x",
            "*",
            "?",
            "[a]",
            "\\",
            "../",
            "../../t:4:acme:x",
            ":",
            "::",
            "-corp:x",
            "corp:x",
            "t:9:acme-corp:x",
            "4:acme:x",
            ":acme-corp:x",
            "\0",
            "é",
            " ",
        ];
        let mut seen: HashMap<String, (&str, &str)> = HashMap::new();
        for id in ids {
            for key in keys {
                let rendered = ctx(id).scoped_key(key).unwrap();
                assert_eq!(decode_key(rendered.as_str()), (id.into(), key.into()));
                assert_eq!(rendered.relative(), key);
                if let Some(previous) = seen.insert(rendered.to_string(), (id, key)) {
                    panic!("{previous:?} and {:?} both render {rendered}", (id, key));
                }
            }
        }
        // No tenant's prefix starts another's.
        for a in ids {
            for b in ids {
                if a != b {
                    assert!(
                        !ctx(a)
                            .scoped_key_prefix()
                            .starts_with(&ctx(b).scoped_key_prefix())
                    );
                }
            }
        }
    }

    /// xorshift64*: deterministic pseudo-random input without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn pick(&mut self, alphabet: &[u8], max_len: usize) -> String {
            let len = 1 + (self.next() as usize) % max_len;
            (0..len)
                .map(|_| alphabet[(self.next() as usize) % alphabet.len()] as char)
                .collect()
        }

        fn tenant_id(&mut self) -> TenantId {
            loop {
                // Short ids over a tiny alphabet: many prefixes of each other and many repeats.
                if let Ok(id) = self.pick(b"a1-", 6).parse() {
                    return id;
                }
            }
        }
    }

    #[test]
    fn rendering_is_injective_over_random_pairs() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut keys: HashMap<String, (TenantId, String)> = HashMap::new();
        let mut collections: HashMap<String, (TenantId, String)> = HashMap::new();
        let mut collection_count = 0;
        for _ in 0..50_000 {
            let id = rng.tenant_id();
            let ctx = TenantCtx::trusted(id.clone(), "tenant_x".parse().unwrap(), Plan::Free);

            let key = rng.pick(b"a1-:t*?[]\\/.", 8);
            let rendered = ctx.scoped_key(&key).unwrap().to_string();
            assert_eq!(decode_key(&rendered), (id.to_string(), key.clone()));
            if let Some(previous) = keys.insert(rendered.clone(), (id.clone(), key.clone())) {
                assert_eq!(previous, (id.clone(), key), "collision on {rendered}");
            }

            let name = rng.pick(b"a1_-tT", 8);
            if let Ok(collection) = ctx.collection(&name) {
                collection_count += 1;
                let rendered = collection.to_string();
                assert_eq!(decode_collection(&rendered), (id.to_string(), name.clone()));
                if let Some(previous) =
                    collections.insert(rendered.clone(), (id.clone(), name.clone()))
                {
                    assert_eq!(previous, (id, name), "collision on {rendered}");
                }
            }
        }
        // The generator really exercised both, with repeats.
        assert!(keys.len() > 10_000, "{}", keys.len());
        assert!(collection_count > 10_000, "{collection_count}");
    }

    fn is_store_valid(name: &str) -> bool {
        let bytes = name.as_bytes();
        (COLLECTION_NAME_MIN_LEN..=COLLECTION_NAME_MAX_LEN).contains(&bytes.len())
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
            && bytes[0].is_ascii_alphanumeric()
            && bytes[bytes.len() - 1].is_ascii_alphanumeric()
    }

    #[test]
    fn collections_meet_the_store_limits_or_fail_typed() {
        let acme = ctx("acme");
        assert_eq!(acme.collection("docs").unwrap().as_str(), "t4_acme_docs");
        assert_eq!(acme.collection("_x").unwrap().as_str(), "t4_acme__x");
        assert_eq!(acme.collection("1").unwrap().as_str(), "t4_acme_1");
        for (bad, expected) in [
            ("", CollectionNameError::Empty),
            (
                "a.b",
                CollectionNameError::InvalidChar {
                    found: '.',
                    position: 1,
                },
            ),
            (
                "a b",
                CollectionNameError::InvalidChar {
                    found: ' ',
                    position: 1,
                },
            ),
            (
                "../x",
                CollectionNameError::InvalidChar {
                    found: '.',
                    position: 0,
                },
            ),
            (
                "é",
                CollectionNameError::InvalidChar {
                    found: 'é',
                    position: 0,
                },
            ),
            (
                "a:b",
                CollectionNameError::InvalidChar {
                    found: ':',
                    position: 1,
                },
            ),
            ("docs_", CollectionNameError::BadLastChar),
            ("docs-", CollectionNameError::BadLastChar),
        ] {
            match acme.collection(bad) {
                Err(Error::InvalidCollectionName(error)) => assert_eq!(error, expected, "{bad}"),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
        // Exactly at the limit, then one over.
        let fits = "n".repeat(COLLECTION_NAME_MAX_LEN - "t4_acme_".len());
        assert_eq!(acme.collection(&fits).unwrap().as_str().len(), 63);
        assert!(matches!(
            acme.collection(&format!("{fits}n")),
            Err(Error::InvalidCollectionName(CollectionNameError::TooLong {
                len: 64
            }))
        ));
        // The longest tenant id leaves no room at all: an error, not a truncation.
        let long = ctx(&"a".repeat(63));
        assert!(matches!(
            long.collection("d"),
            Err(Error::InvalidCollectionName(CollectionNameError::TooLong {
                len: 69
            }))
        ));
        // Every accepted name is valid for the store.
        let mut rng = Rng(7);
        for _ in 0..10_000 {
            let id = rng.tenant_id();
            let ctx = TenantCtx::trusted(id, "tenant_x".parse().unwrap(), Plan::Free);
            let name = rng.pick(b"aZ9_-.", 10);
            if let Ok(collection) = ctx.collection(&name) {
                assert!(is_store_valid(collection.as_str()), "{collection}");
            }
        }
    }
}
