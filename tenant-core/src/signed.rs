//! [`SignedClaim`] and [`SystemToken`]: what a workflow payload carries in place of a bare
//! [`TenantClaim`], so that a worker can tell a claim a key holder minted from one anybody who
//! can schedule a task wrote.
//!
//! A bare claim names a tenant; anybody who can start a workflow can write one. A signed claim is
//! minted from a verified [`TenantCtx`] by a holder of a claim-signing key (the request boundary,
//! a workflow starter), for one audience (a Temporal namespace and task-queue prefix: the
//! worker's [`Routing`](crate::routing::Routing)) and until an expiry. A worker checks, in this
//! order: the signature (by key id, in constant time), the expiry and the audience, then the
//! registry ([`TenantClaim::verify`]). A [`SystemToken`] does the same for cross-tenant work: it
//! names the reason of the system activity it may run.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::signing::{SignatureError, SigningKeys, len_prefix};
use crate::{
    ClaimError, Plan, SchemaName, SystemCtx, TenancyConfig, TenantClaim, TenantCtx, TenantId,
    TenantRegistry,
};

/// How far past its expiry a claim or token is still accepted: the clocks of the signer and
/// the worker may disagree by this much.
pub const CLOCK_SKEW_LEEWAY: Duration = Duration::from_secs(60);

/// The MAC input of a [`SignedClaim`] starts with this.
pub const CLAIM_DOMAIN: &[u8] = b"tenant/claim/v1\0";

/// The MAC input of a [`SystemToken`] starts with this.
pub const SYSTEM_DOMAIN: &[u8] = b"tenant/system/v1\0";

/// Who a signed claim or token is for: the Temporal namespace and the task-queue prefix of the
/// workers that may act on it. [`Routing::audience`](crate::routing::Routing::audience) gives a
/// routing's, so the signer and the worker take it from the one value they already share.
///
/// ```
/// use tenant::signed::Audience;
///
/// let audience = Audience::new("default", "provisioning");
/// assert_eq!(audience.namespace(), "default");
/// assert_eq!(audience.queue_prefix(), "provisioning");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Audience {
    namespace: String,
    queue_prefix: String,
}

impl Audience {
    /// The workers of `namespace` on the task queues `{queue_prefix}-..`.
    pub fn new(namespace: impl Into<String>, queue_prefix: impl Into<String>) -> Self {
        Audience {
            namespace: namespace.into(),
            queue_prefix: queue_prefix.into(),
        }
    }

    /// The Temporal namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The task-queue prefix.
    pub fn queue_prefix(&self) -> &str {
        &self.queue_prefix
    }
}

/// Why a claim or token could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The lifetime was zero, or the expiry it gives is not representable.
    #[error("a signed claim needs a lifetime of at least one second")]
    Lifetime,
    /// The clock said a time before 1970.
    #[error("the clock is before the Unix epoch")]
    Clock,
}

/// Why a signed claim or system token was refused. The variants name no tenant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignedClaimError {
    /// The signature did not verify: an unknown key id, or a tag that is not the MAC of the
    /// claim under the key its key id names (a tampered field, another key).
    #[error("the claim's signature was refused")]
    Signature(#[from] SignatureError),
    /// The expiry, plus [`CLOCK_SKEW_LEEWAY`], is past.
    #[error("the claim has expired")]
    Expired,
    /// The claim is for another namespace or task-queue prefix than this worker's.
    #[error("the claim is for another audience")]
    Audience,
    /// A system token names another reason than the system activity's.
    #[error("the system token is for another reason")]
    Reason,
    /// The registry did not vouch for the signed claim's tenant.
    #[error(transparent)]
    Claim(ClaimError),
}

impl SignedClaimError {
    /// Whether a retry could change the answer: only when the registry could not be read.
    ///
    /// ```
    /// use tenant::signed::SignedClaimError;
    ///
    /// assert!(!SignedClaimError::Expired.is_retryable());
    /// assert!(!SignedClaimError::Audience.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        matches!(self, SignedClaimError::Claim(ClaimError::Registry(_)))
    }
}

/// Seconds since the Unix epoch of `now + lifetime`, rounded down.
fn expiry(now: SystemTime, lifetime: Duration) -> Result<u64, SignError> {
    if lifetime < Duration::from_secs(1) {
        return Err(SignError::Lifetime);
    }
    let now = now
        .duration_since(UNIX_EPOCH)
        .map_err(|_| SignError::Clock)?;
    now.checked_add(lifetime)
        .map(|at| at.as_secs())
        .ok_or(SignError::Lifetime)
}

/// Whether `expires_at` (seconds since the epoch), plus the leeway, is still ahead of `now`.
fn check_expiry(expires_at: u64, now: SystemTime) -> Result<(), SignedClaimError> {
    let now = now
        .duration_since(UNIX_EPOCH)
        .map_err(|_| SignedClaimError::Expired)?
        .as_secs();
    if now <= expires_at.saturating_add(CLOCK_SKEW_LEEWAY.as_secs()) {
        Ok(())
    } else {
        Err(SignedClaimError::Expired)
    }
}

/// What a claim and a system token check alike, in this order: the signature (by key id, in
/// constant time), then the expiry at `now`, then that the audience is the expected one.
fn check_signed(
    keys: &SigningKeys,
    (key_id, mac_input, signature): (&str, &[u8], &[u8; 32]),
    (expires_at, audience): (u64, &Audience),
    (now, expected): (SystemTime, &Audience),
) -> Result<(), SignedClaimError> {
    keys.verify_parts(key_id, &[mac_input], signature)?;
    check_expiry(expires_at, now)?;
    if audience != expected {
        return Err(SignedClaimError::Audience);
    }
    Ok(())
}

/// The canonical encoding: `domain`, then each field behind its length as a big-endian `u64`,
/// then `expires_at` as a big-endian `u64`.
fn canonical(domain: &[u8], fields: &[&str], expires_at: u64) -> Vec<u8> {
    let mut out = domain.to_vec();
    for field in fields {
        out.extend_from_slice(&len_prefix(field.len()));
        out.extend_from_slice(field.as_bytes());
    }
    out.extend_from_slice(&expires_at.to_be_bytes());
    out
}

/// A tenant claim signed by a holder of a claim-signing key: what a workflow payload carries,
/// and what a worker accepts, in place of a bare [`TenantClaim`].
///
/// It is minted only from a verified [`TenantCtx`] ([`sign`](Self::sign)), for an [`Audience`]
/// and a lifetime, and carries the tenant, its schema and the plan it was minted with, the
/// audience, the expiry, the key id and the HMAC-SHA256 tag. [`verify`](Self::verify) checks the
/// signature first (in constant time, under the key its key id names: an unknown key id is a
/// typed error), then the expiry (with [`CLOCK_SKEW_LEEWAY`]) and the audience, then asks the
/// registry ([`TenantClaim::verify`]). The plan it carries is what its work is routed and
/// weighed by; the context's plan is still the registry's.
///
/// # Canonical encoding
///
/// The tag is HMAC-SHA256, under the key named by `key_id`, of these bytes (`u64be(n)` is `n`
/// as 8 big-endian bytes, and each text is its UTF-8 bytes behind its length as `u64be`):
///
/// ```text
/// "tenant/claim/v1" 0x00
/// u64be(len(key_id))       key_id
/// u64be(len(tenant_id))    tenant_id
/// u64be(len(schema_name))  schema_name
/// u64be(len(plan))         plan            (free, pro, enterprise, or another plan's name)
/// u64be(len(namespace))    namespace
/// u64be(len(queue_prefix)) queue_prefix
/// u64be(expires_at)                        (seconds since 1970-01-01T00:00:00Z)
/// ```
///
/// On a wire it is a JSON object with exactly the fields `tenant_id`, `schema_name`, `plan`,
/// `namespace`, `queue_prefix`, `expires_at` (a number), `key_id` and `signature` (standard,
/// padded base64 of the 32-byte tag), in any order; another field is refused. A port in another
/// language checks itself against `tenant-core/tests/data/claim_vectors.json`.
///
/// # Keys
///
/// Claim keys are a [`SigningKeys`] ring like the event keys, held by the signers (the request
/// boundary, the workflow starters) and the workers only. Give claims keys of their own, not the
/// event keys: whoever holds one can mint claims for any active tenant. Rotation is by key id:
/// add the new key as accepted on every worker, then make it current on the signers, then drop
/// the old one once every claim it signed has expired.
///
/// ```
/// use std::time::Duration;
/// use tenant::signed::{Audience, SignedClaim, SignedClaimError};
/// use tenant::{InMemoryRegistry, Plan, SigningKeys, TenancyConfig, TenantCtx};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let keys: SigningKeys = "claims1:tlL9C3QBIVlBWxotkSiN2fBkFH9h2Y3eQ+jLNdhOimU=".parse()?;
/// let audience = Audience::new("default", "provisioning");
/// let registry = InMemoryRegistry::from_ids(["acme".parse()?])?;
///
/// // At the request boundary, from a context the registry gave:
/// let ctx = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
/// let claim = SignedClaim::sign(&ctx, &keys, &audience, Duration::from_secs(3600))?;
/// let json = serde_json::to_string(&claim)?;
///
/// // At the worker:
/// let received: SignedClaim = serde_json::from_str(&json)?;
/// let verified = received.verify(&keys, &audience, &registry, &TenancyConfig::default()).await?;
/// assert_eq!(verified.tenant_id().as_str(), "acme");
///
/// // For another audience, or tampered, it is refused.
/// let staging = Audience::new("staging", "provisioning");
/// let refused = received.verify(&keys, &staging, &registry, &TenancyConfig::default()).await;
/// assert!(matches!(refused, Err(SignedClaimError::Audience)));
/// let tampered = json.replace(r#""plan":"free""#, r#""plan":"enterprise""#);
/// let tampered: SignedClaim = serde_json::from_str(&tampered)?;
/// let refused = tampered.verify(&keys, &audience, &registry, &TenancyConfig::default()).await;
/// assert!(matches!(refused, Err(SignedClaimError::Signature(_))));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SignedClaim {
    tenant_id: TenantId,
    schema_name: SchemaName,
    plan: Plan,
    audience: Audience,
    expires_at: u64,
    key_id: String,
    signature: [u8; 32],
}

impl SignedClaim {
    /// A claim of `ctx` for `audience`, signed with the current key of `keys`, expiring
    /// `lifetime` from now.
    pub fn sign(
        ctx: &TenantCtx,
        keys: &SigningKeys,
        audience: &Audience,
        lifetime: Duration,
    ) -> Result<Self, SignError> {
        Self::sign_at(ctx, keys, audience, lifetime, SystemTime::now())
    }

    /// [`sign`](Self::sign), with `now` as the current time (tests, test vectors): the same
    /// inputs give the same claim, byte for byte.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use tenant::signed::{Audience, SignedClaim};
    /// use tenant::{Plan, SigningKeys, TenantCtx};
    ///
    /// let keys = SigningKeys::new("claims1", &[7; 32])?;
    /// let ctx = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Pro);
    /// let (audience, now) = (Audience::new("default", "p"), UNIX_EPOCH + Duration::from_secs(1_000));
    /// let claim = SignedClaim::sign_at(&ctx, &keys, &audience, Duration::from_secs(60), now)?;
    /// assert_eq!(claim.expires_at(), 1_060);
    /// assert_eq!(claim, SignedClaim::sign_at(&ctx, &keys, &audience, Duration::from_secs(60), now)?);
    /// // The MAC input starts with the domain, then the key id behind its length.
    /// assert!(claim.mac_input().starts_with(b"tenant/claim/v1\0\0\0\0\0\0\0\0\x07claims1"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sign_at(
        ctx: &TenantCtx,
        keys: &SigningKeys,
        audience: &Audience,
        lifetime: Duration,
        now: SystemTime,
    ) -> Result<Self, SignError> {
        let mut claim = SignedClaim {
            tenant_id: ctx.tenant_id().clone(),
            schema_name: ctx.schema_name().clone(),
            plan: ctx.plan().clone(),
            audience: audience.clone(),
            expires_at: expiry(now, lifetime)?,
            key_id: keys.current_key_id().to_owned(),
            signature: [0; 32],
        };
        claim.signature = keys.sign_parts(&[&claim.mac_input()]);
        Ok(claim)
    }

    /// The bytes the tag is the MAC of: see [Canonical encoding](#canonical-encoding).
    pub fn mac_input(&self) -> Vec<u8> {
        canonical(
            CLAIM_DOMAIN,
            &[
                &self.key_id,
                self.tenant_id.as_str(),
                self.schema_name.as_str(),
                self.plan.as_str(),
                &self.audience.namespace,
                &self.audience.queue_prefix,
            ],
            self.expires_at,
        )
    }

    /// The tenant it claims. Not verified until [`verify`](Self::verify) says so.
    pub fn tenant_id(&self) -> &TenantId {
        &self.tenant_id
    }

    /// The schema it claims.
    pub fn schema_name(&self) -> &SchemaName {
        &self.schema_name
    }

    /// The plan it was minted with: what its work is routed and weighed by.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Who it is for.
    pub fn audience(&self) -> &Audience {
        &self.audience
    }

    /// When it expires, in seconds since the Unix epoch.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// The id of the key that signed it.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Checks the signature, then the expiry at `now` and the audience, without the registry:
    /// the first half of [`verify`](Self::verify), for a worker that checks the task's route
    /// between the two halves.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use tenant::signed::{Audience, SignedClaim, SignedClaimError, CLOCK_SKEW_LEEWAY};
    /// use tenant::{Plan, SignatureError, SigningKeys, TenantCtx};
    ///
    /// let keys = SigningKeys::new("claims1", &[7; 32])?;
    /// let ctx = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Pro);
    /// let audience = Audience::new("default", "p");
    /// let at = |secs| UNIX_EPOCH + Duration::from_secs(secs);
    /// let claim = SignedClaim::sign_at(&ctx, &keys, &audience, Duration::from_secs(60), at(1_000))?;
    ///
    /// assert!(claim.check(&keys, &audience, at(1_060)).is_ok());
    /// // Within the leeway for clock skew, then expired.
    /// assert!(claim.check(&keys, &audience, at(1_060 + CLOCK_SKEW_LEEWAY.as_secs())).is_ok());
    /// assert!(matches!(
    ///     claim.check(&keys, &audience, at(1_061 + CLOCK_SKEW_LEEWAY.as_secs())),
    ///     Err(SignedClaimError::Expired)
    /// ));
    /// // A worker without the signing key refuses it by key id, before anything else.
    /// let others = SigningKeys::new("claims2", &[9; 32])?;
    /// assert!(matches!(
    ///     claim.check(&others, &audience, at(1_000)),
    ///     Err(SignedClaimError::Signature(SignatureError::UnknownKeyId))
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check(
        &self,
        keys: &SigningKeys,
        audience: &Audience,
        now: SystemTime,
    ) -> Result<(), SignedClaimError> {
        check_signed(
            keys,
            (&self.key_id, &self.mac_input(), &self.signature),
            (self.expires_at, &self.audience),
            (now, audience),
        )
    }

    /// The claimed tenant's context, if the claim is signed by an accepted key, has not expired,
    /// is for `audience`, and the registry vouches for its tenant (exists, active, allowed by
    /// `config`, same schema): see [`TenantClaim::verify`].
    pub async fn verify<R: TenantRegistry>(
        &self,
        keys: &SigningKeys,
        audience: &Audience,
        registry: &R,
        config: &TenancyConfig,
    ) -> Result<TenantCtx, SignedClaimError> {
        self.check(keys, audience, SystemTime::now())?;
        self.claim()
            .verify(registry, config)
            .await
            .map_err(SignedClaimError::Claim)
    }

    /// The bare claim it signs, for the registry: call only after [`check`](Self::check).
    pub fn claim(&self) -> TenantClaim {
        TenantClaim::signed_parts(
            self.tenant_id.clone(),
            self.schema_name.clone(),
            self.plan.clone(),
        )
    }
}

impl fmt::Debug for SignedClaim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedClaim")
            .field("tenant_id", &self.tenant_id.as_str())
            .field("schema_name", &self.schema_name.as_str())
            .field("plan", &self.plan.as_str())
            .field("audience", &self.audience)
            .field("expires_at", &self.expires_at)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// A signed permission to run the system activity of one reason: what a system activity's
/// input carries, so that a scheduler without a key cannot run cross-tenant work by setting the
/// `:system` fairness key.
///
/// It is minted from a [`SystemCtx`] (whose creation is audited) by a holder of a
/// claim-signing key, for an [`Audience`] and a lifetime, and names the `SystemCtx`'s reason: a
/// worker runs a system activity only for a token of the reason the activity declares
/// (`#[activity(system = "..")]`). The checks and their order are a [`SignedClaim`]'s, with the
/// reason in place of the registry.
///
/// The tag is HMAC-SHA256 under the key named by `key_id` of (see [`SignedClaim`] for the
/// notation):
///
/// ```text
/// "tenant/system/v1" 0x00
/// u64be(len(key_id))       key_id
/// u64be(len(reason))       reason
/// u64be(len(namespace))    namespace
/// u64be(len(queue_prefix)) queue_prefix
/// u64be(expires_at)
/// ```
///
/// Its JSON has exactly the fields `reason`, `namespace`, `queue_prefix`, `expires_at`, `key_id`
/// and `signature`.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tenant::signed::{Audience, SignedClaimError, SystemToken};
/// use tenant::{SigningKeys, SystemCtx};
///
/// let keys: SigningKeys = "claims1:tlL9C3QBIVlBWxotkSiN2fBkFH9h2Y3eQ+jLNdhOimU=".parse()?;
/// let audience = Audience::new("default", "provisioning");
/// let sys = SystemCtx::new("nightly cleanup")?;
/// let token = SystemToken::sign(&sys, &keys, &audience, Duration::from_secs(600))?;
///
/// let now = SystemTime::now();
/// assert!(token.check(&keys, &audience, "nightly cleanup", now).is_ok());
/// assert!(matches!(
///     token.check(&keys, &audience, "drop a tenant's schema", now),
///     Err(SignedClaimError::Reason)
/// ));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SystemToken {
    reason: String,
    audience: Audience,
    expires_at: u64,
    key_id: String,
    signature: [u8; 32],
}

impl SystemToken {
    /// A token for `sys`'s reason and `audience`, signed with the current key of `keys`,
    /// expiring `lifetime` from now.
    pub fn sign(
        sys: &SystemCtx,
        keys: &SigningKeys,
        audience: &Audience,
        lifetime: Duration,
    ) -> Result<Self, SignError> {
        Self::sign_at(sys, keys, audience, lifetime, SystemTime::now())
    }

    /// [`sign`](Self::sign), with `now` as the current time (tests, test vectors).
    pub fn sign_at(
        sys: &SystemCtx,
        keys: &SigningKeys,
        audience: &Audience,
        lifetime: Duration,
        now: SystemTime,
    ) -> Result<Self, SignError> {
        // A token is a use of the context: it lets a worker build one for the same reason.
        sys.audit("sign_system_token", "system_token");
        let mut token = SystemToken {
            reason: sys.reason().to_owned(),
            audience: audience.clone(),
            expires_at: expiry(now, lifetime)?,
            key_id: keys.current_key_id().to_owned(),
            signature: [0; 32],
        };
        token.signature = keys.sign_parts(&[&token.mac_input()]);
        Ok(token)
    }

    /// The bytes the tag is the MAC of.
    pub fn mac_input(&self) -> Vec<u8> {
        canonical(
            SYSTEM_DOMAIN,
            &[
                &self.key_id,
                &self.reason,
                &self.audience.namespace,
                &self.audience.queue_prefix,
            ],
            self.expires_at,
        )
    }

    /// The reason it names.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Who it is for.
    pub fn audience(&self) -> &Audience {
        &self.audience
    }

    /// When it expires, in seconds since the Unix epoch.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// The id of the key that signed it.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Checks the signature, then the expiry at `now`, the audience and the reason.
    pub fn check(
        &self,
        keys: &SigningKeys,
        audience: &Audience,
        reason: &str,
        now: SystemTime,
    ) -> Result<(), SignedClaimError> {
        check_signed(
            keys,
            (&self.key_id, &self.mac_input(), &self.signature),
            (self.expires_at, &self.audience),
            (now, audience),
        )?;
        if self.reason != reason {
            return Err(SignedClaimError::Reason);
        }
        Ok(())
    }
}

impl fmt::Debug for SystemToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemToken")
            .field("reason", &self.reason)
            .field("audience", &self.audience)
            .field("expires_at", &self.expires_at)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

mod wire;
