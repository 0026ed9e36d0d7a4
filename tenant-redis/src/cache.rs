//! [`TenantCache`]: a Redis connection that only reads and writes the keys of the tenant it is
//! handed, named by [`TenantCtx::scoped_key`] (scheme in [`names`](tenant_core::names)).

use std::time::Duration;

use redis::aio::ConnectionLike;
use redis::{FromRedisValue, ToRedisArgs};

use tenant_core::{ScopedKey, TenantCtx};

use crate::Error;

/// The longest cache namespace, in bytes.
pub const NAMESPACE_MAX_LEN: usize = 64;

/// The most keys [`TenantCache::scan`] collects unless
/// [`with_scan_limit`](TenantCache::with_scan_limit) says otherwise.
pub const DEFAULT_SCAN_LIMIT: usize = 10_000;

/// How many keys one `SCAN` or `ZSCAN` step asks for.
const SCAN_COUNT: usize = 256;

/// Runs one write command on a tenant's key, then brings the tenant's index in line with what
/// the key became: gone (`ZREM`), or kept with the time it expires at, in milliseconds of the
/// server's clock (`+inf` without expiry). Entries whose time has passed are pruned on the way,
/// so that keys written with a time to live do not pile up in the index.
///
/// `KEYS[1]` the key, `KEYS[2]` the index; `ARGV[1]` the key relative to the tenant, `ARGV[2]`
/// the command, the rest its arguments after the key.
///
/// Sent with `EVAL` (redis's `Script` type needs its `script` feature and a SHA-1 crate for the
/// `EVALSHA` it saves: a few hundred bytes per write are not worth them).
const WRITE_AND_INDEX: &str = r"
local reply = redis.call(ARGV[2], KEYS[1], unpack(ARGV, 3))
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ms)
local pttl = redis.call('PTTL', KEYS[1])
if pttl == -2 then
  redis.call('ZREM', KEYS[2], ARGV[1])
elseif pttl == -1 then
  redis.call('ZADD', KEYS[2], 'inf', ARGV[1])
else
  redis.call('ZADD', KEYS[2], ms + pttl, ARGV[1])
end
return reply
";

/// Of a batch of indexed keys, those that still exist; the others (expired, or deleted by a
/// client that bypasses the cache) leave the index.
///
/// `KEYS[1]` the index, `KEYS[2..]` the keys; `ARGV` the same keys relative to the tenant.
const LIVE_KEYS: &str = r"
local live = {}
for i = 1, #ARGV do
  if redis.call('EXISTS', KEYS[i + 1]) == 1 then
    live[#live + 1] = ARGV[i]
  else
    redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return live
";

/// Tenant-scoped Redis commands over any async connection: a
/// [`MultiplexedConnection`](redis::aio::MultiplexedConnection) or a `ConnectionManager`
/// (cloned per command, which is cheap for both).
///
/// Every method takes the tenant's `&TenantCtx` and a key relative to the tenant, and touches
/// only the Redis key `ctx.scoped_key(key)`, optionally behind a namespace shared by all tenants
/// ([`with_namespace`](Self::with_namespace)), and the tenant's index of its keys. A tenant
/// cannot name another tenant's key: the relative key is rendered inside the tenant's prefix
/// whatever it contains. In single-tenant mode the context of the default tenant works like any
/// other.
///
/// The index is what lets [`scan`](Self::scan) visit one tenant's keys without walking the
/// whole keyspace: a sorted set at the tenant's prefix itself (`t:{len}:{tenant}:`, the scoped
/// key of an empty relative key, which no key of any tenant can be), whose members are the
/// tenant's relative keys, scored with the time each expires at. Every write (`set`, `set_ex`,
/// `incr`, `expire`, `del`) updates it in the same Lua script as the key, atomically. Keys
/// written by clients that bypass the cache are not in it until
/// [`reindex`](Self::reindex).
///
/// ```no_run
/// use std::time::Duration;
/// use tenant::redis::TenantCache;
/// use tenant::{Plan, TenantCtx};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let client = redis::Client::open("redis://127.0.0.1/")?;
/// let cache = TenantCache::new(client.get_multiplexed_async_connection().await?);
/// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
///
/// cache.set_ex(&acme, "sessions:42", "alice", Duration::from_secs(60)).await?;
/// let user: Option<String> = cache.get(&acme, "sessions:42").await?;
/// assert_eq!(user.as_deref(), Some("alice"));
/// assert_eq!(cache.scan(&acme, "sessions:").await?, ["sessions:42"]);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct TenantCache<C> {
    conn: C,
    /// `""` or `{namespace}:`.
    namespace: String,
    /// The most keys one `scan` collects.
    scan_limit: usize,
}

impl<C> std::fmt::Debug for TenantCache<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantCache")
            .field("namespace", &self.namespace)
            .field("scan_limit", &self.scan_limit)
            .finish_non_exhaustive()
    }
}

impl<C: ConnectionLike + Clone + Send + Sync> TenantCache<C> {
    /// Tenant-scoped commands over `conn`, keys rendered exactly as [`ScopedKey::as_str`].
    pub fn new(conn: C) -> Self {
        TenantCache {
            conn,
            namespace: String::new(),
            scan_limit: DEFAULT_SCAN_LIMIT,
        }
    }

    /// The same cache with [`scan`](Self::scan) collecting at most `max_keys` keys
    /// ([`DEFAULT_SCAN_LIMIT`] by default); a scan that finds more is
    /// [`Error::ScanLimitExceeded`].
    ///
    /// ```
    /// # async fn f(conn: redis::aio::MultiplexedConnection) {
    /// use tenant::redis::{DEFAULT_SCAN_LIMIT, TenantCache};
    ///
    /// assert_eq!(TenantCache::new(conn.clone()).scan_limit(), DEFAULT_SCAN_LIMIT);
    /// assert_eq!(TenantCache::new(conn).with_scan_limit(100).scan_limit(), 100);
    /// # }
    /// ```
    pub fn with_scan_limit(mut self, max_keys: usize) -> Self {
        self.scan_limit = max_keys;
        self
    }

    /// The most keys [`scan`](Self::scan) collects.
    pub fn scan_limit(&self) -> usize {
        self.scan_limit
    }

    /// The same cache with every key behind `{namespace}:` (say, one namespace per service
    /// sharing a Redis). A namespace is 1 to [`NAMESPACE_MAX_LEN`] bytes of ASCII letters,
    /// digits, `_`, `-` and `.`; it holds no `:`, so keys of different namespaces never collide
    /// either. Anything else is [`Error::InvalidNamespace`].
    ///
    /// ```
    /// # async fn f(conn: redis::aio::MultiplexedConnection) {
    /// use tenant::redis::TenantCache;
    ///
    /// assert!(TenantCache::new(conn.clone()).with_namespace("billing-v2").is_ok());
    /// assert!(TenantCache::new(conn).with_namespace("a:b").is_err());
    /// # }
    /// ```
    pub fn with_namespace(mut self, namespace: &str) -> Result<Self, Error> {
        let valid = !namespace.is_empty()
            && namespace.len() <= NAMESPACE_MAX_LEN
            && namespace
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !valid {
            return Err(Error::InvalidNamespace);
        }
        self.namespace = format!("{namespace}:");
        Ok(self)
    }

    /// The Redis key of `key` for this tenant: the namespace, then [`TenantCtx::scoped_key`].
    pub fn redis_key(&self, ctx: &TenantCtx, key: &str) -> Result<String, Error> {
        let scoped: ScopedKey = ctx.scoped_key(key)?;
        Ok(format!("{}{}", self.namespace, scoped.as_str()))
    }

    async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, Error> {
        let mut conn = self.conn.clone();
        Ok(cmd.query_async(&mut conn).await?)
    }

    /// The tenant's index of its keys (see the type's documentation).
    fn index_key(&self, ctx: &TenantCtx) -> String {
        format!("{}{}", self.namespace, ctx.scoped_key_prefix())
    }

    /// `command key args..` on the tenant's `key`, and the tenant's index updated with it.
    async fn write<T: FromRedisValue>(
        &self,
        ctx: &TenantCtx,
        key: &str,
        command: &str,
        args: impl FnOnce(&mut redis::Cmd),
    ) -> Result<T, Error> {
        let redis_key = self.redis_key(ctx, key)?;
        let mut eval = redis::cmd("EVAL");
        eval.arg(WRITE_AND_INDEX)
            .arg(2)
            .arg(redis_key)
            .arg(self.index_key(ctx))
            .arg(key)
            .arg(command);
        args(&mut eval);
        self.query(&eval).await
    }

    /// `GET`: the value, or `None` when the tenant has no such key.
    pub async fn get<T: FromRedisValue>(
        &self,
        ctx: &TenantCtx,
        key: &str,
    ) -> Result<Option<T>, Error> {
        let key = self.redis_key(ctx, key)?;
        self.query(redis::cmd("GET").arg(key)).await
    }

    /// `SET` without expiry.
    pub async fn set<V: ToRedisArgs + Send + Sync>(
        &self,
        ctx: &TenantCtx,
        key: &str,
        value: V,
    ) -> Result<(), Error> {
        self.write(ctx, key, "SET", |set| {
            set.arg(value);
        })
        .await
    }

    /// `SET .. PX`: the key expires after `ttl` (millisecond precision; a `ttl` under one
    /// millisecond is refused by Redis with an error).
    pub async fn set_ex<V: ToRedisArgs + Send + Sync>(
        &self,
        ctx: &TenantCtx,
        key: &str,
        value: V,
        ttl: Duration,
    ) -> Result<(), Error> {
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        self.write(ctx, key, "SET", |set| {
            set.arg(value).arg("PX").arg(millis);
        })
        .await
    }

    /// `DEL`: whether the tenant had the key.
    pub async fn del(&self, ctx: &TenantCtx, key: &str) -> Result<bool, Error> {
        let removed: u64 = self.write(ctx, key, "DEL", |_| {}).await?;
        Ok(removed > 0)
    }

    /// `PEXPIRE`: whether the tenant had the key (and it now expires after `ttl`).
    pub async fn expire(&self, ctx: &TenantCtx, key: &str, ttl: Duration) -> Result<bool, Error> {
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let set: u64 = self
            .write(ctx, key, "PEXPIRE", |pexpire| {
                pexpire.arg(millis);
            })
            .await?;
        Ok(set > 0)
    }

    /// `INCRBY`: the value after adding `by` (a missing key counts as 0).
    pub async fn incr(&self, ctx: &TenantCtx, key: &str, by: i64) -> Result<i64, Error> {
        self.write(ctx, key, "INCRBY", |incr| {
            incr.arg(by);
        })
        .await
    }

    /// `EXISTS`: whether the tenant has the key.
    pub async fn exists(&self, ctx: &TenantCtx, key: &str) -> Result<bool, Error> {
        let key = self.redis_key(ctx, key)?;
        let found: u64 = self.query(redis::cmd("EXISTS").arg(key)).await?;
        Ok(found > 0)
    }

    /// The tenant's keys that start with `prefix` (relative, as given to the other methods),
    /// sorted and without duplicates. `""` lists all of the tenant's keys.
    ///
    /// Walks the tenant's index only (`ZSCAN`, in steps of a few hundred keys, with `MATCH` on
    /// `prefix` with every glob metacharacter (`*`, `?`, `[`, `]`, `\`) escaped, so `prefix` is
    /// taken literally), never the keyspace: its cost is the tenant's number of keys, whatever
    /// other tenants hold. Each step keeps only the keys that still exist (an expired key, or
    /// one deleted by a client that bypasses the cache, leaves the index then). A key written
    /// by such a client is listed only after [`reindex`](Self::reindex).
    ///
    /// Bounded: once more than [`scan_limit`](Self::scan_limit) distinct keys match, the scan
    /// stops and returns [`Error::ScanLimitExceeded`], not a truncated list, which a caller
    /// could take for the whole (a cleanup that misses keys, a lookup that says "none"). Narrow
    /// the prefix, or raise the limit with [`with_scan_limit`](Self::with_scan_limit). Other
    /// tenants' keys never count towards the limit, nor are they visited.
    ///
    /// ```no_run
    /// use tenant::redis::{Error, TenantCache};
    /// use tenant::{Plan, TenantCtx};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = redis::Client::open("redis://127.0.0.1/")?;
    /// let cache = TenantCache::new(client.get_multiplexed_async_connection().await?)
    ///     .with_scan_limit(2);
    /// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
    /// for key in ["sessions:1", "sessions:2", "users:1"] {
    ///     cache.set(&acme, key, 1).await?;
    /// }
    /// assert_eq!(cache.scan(&acme, "sessions:").await?, ["sessions:1", "sessions:2"]);
    /// assert!(matches!(
    ///     cache.scan(&acme, "").await,
    ///     Err(Error::ScanLimitExceeded { limit: 2 })
    /// ));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn scan(&self, ctx: &TenantCtx, prefix: &str) -> Result<Vec<String>, Error> {
        let index = self.index_key(ctx);
        let mut pattern = escape_glob(prefix);
        pattern.push('*');

        let mut conn = self.conn.clone();
        let mut cursor: u64 = 0;
        let mut found = std::collections::BTreeSet::new();
        loop {
            // Members and scores, interleaved.
            let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("ZSCAN")
                .arg(&index)
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(SCAN_COUNT)
                .query_async(&mut conn)
                .await?;
            let members: Vec<String> = batch
                .into_iter()
                .step_by(2)
                // Members are written from `&str` by this type (and `reindex`): UTF-8.
                .filter_map(|member| String::from_utf8(member).ok())
                .filter(|member| member.starts_with(prefix) && !member.is_empty())
                .collect();
            if !members.is_empty() {
                let mut live = redis::cmd("EVAL");
                live.arg(LIVE_KEYS).arg(members.len() + 1).arg(&index);
                for member in &members {
                    live.arg(self.redis_key(ctx, member)?);
                }
                live.arg(&members);
                let live: Vec<String> = live.query_async(&mut conn).await?;
                for key in live {
                    // A set: `ZSCAN` may return a member twice, which must not count twice.
                    found.insert(key);
                    if found.len() > self.scan_limit {
                        return Err(Error::ScanLimitExceeded {
                            limit: self.scan_limit,
                        });
                    }
                }
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        Ok(found.into_iter().collect())
    }

    /// Adds to the tenant's index every key of the tenant that exists, however it was written,
    /// and returns how many it found: for keys written by a client that bypasses the cache, and
    /// once after upgrading from a version without the index. Unlike [`scan`](Self::scan) it
    /// walks the whole keyspace (`SCAN MATCH` on the tenant's prefix, a few hundred keys per
    /// step): an operator's tool, not a request's.
    ///
    /// ```no_run
    /// use tenant::redis::TenantCache;
    /// use tenant::{Plan, TenantCtx};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = redis::Client::open("redis://127.0.0.1/")?;
    /// let cache = TenantCache::new(client.get_multiplexed_async_connection().await?);
    /// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
    /// let found = cache.reindex(&acme).await?;
    /// assert_eq!(cache.scan(&acme, "").await?.len(), found);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn reindex(&self, ctx: &TenantCtx) -> Result<usize, Error> {
        let tenant_prefix = format!("{}{}", self.namespace, ctx.scoped_key_prefix());
        let mut pattern = escape_glob(&tenant_prefix);
        pattern.push('*');

        let mut conn = self.conn.clone();
        let mut cursor: u64 = 0;
        let mut found = std::collections::BTreeSet::new();
        loop {
            let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(SCAN_COUNT)
                .query_async(&mut conn)
                .await?;
            for key in batch {
                let Some(relative) = key.strip_prefix(tenant_prefix.as_bytes()) else {
                    continue;
                };
                // The index itself (an empty relative key), and keys this type could not
                // have written (not UTF-8), are not the tenant's keys.
                let Ok(relative) = std::str::from_utf8(relative) else {
                    continue;
                };
                if relative.is_empty() || found.contains(relative) {
                    continue;
                }
                // `EXISTS` changes nothing; the script then indexes what the key is.
                let _: u64 = self.write(ctx, relative, "EXISTS", |_| {}).await?;
                found.insert(relative.to_owned());
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        Ok(found.len())
    }
}

/// `text` as a Redis glob pattern that matches exactly `text`.
pub(crate) fn escape_glob(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::escape_glob;

    #[test]
    fn glob_metacharacters_are_escaped() {
        assert_eq!(escape_glob("t:4:acme:"), "t:4:acme:");
        assert_eq!(escape_glob("a*b?c[d]e\\f"), "a\\*b\\?c\\[d\\]e\\\\f");
        assert_eq!(escape_glob("^-!"), "^-!");
    }
}
