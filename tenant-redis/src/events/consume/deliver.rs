//! One entry's fate: checked (fields, signature, envelope; then the tenant; then the delivery
//! count), handed to the handler and acknowledged, left pending, or dead-lettered — the last in
//! one place, [`EventConsumer::deliver`].

use std::fmt;
use std::future::Future;
use std::time::{Duration, SystemTime};

use redis::Value;
use redis::aio::ConnectionLike;
use serde::de::DeserializeOwned;

use tenant_core::registry::to_unix_millis;
use tenant_core::{ClaimError, TenantClaim, TenantCtx, TenantId, TenantRegistry};

use crate::Error;
use crate::events::check::{
    DeadLetterReason as Reason, ReceivedEnvelope, Rejected, Signed, check_entry, read_fields,
};
use crate::events::{ENVELOPE_FIELD, KEY_ID_FIELD, SIGNATURE_FIELD};

use super::{EventConsumer, millis};

/// What became of an entry, for the [`PollReport`](super::PollReport).
pub(super) enum Outcome {
    Handled,
    DeadLettered,
    Failed,
    Deferred,
}

/// Why an entry did not reach a handler that succeeded.
enum Stop {
    /// Refused: it goes to the dead-letter stream.
    Rejected(Rejected),
    /// Not decided yet (a tenant unknown within the grace, a registry that failed): the entry
    /// stays pending, and this delivery, which never reached the handler, is given back.
    GiveBack(Outcome),
    /// Redis failed: the poll ends with the error.
    Redis(Error),
}

impl From<Rejected> for Stop {
    fn from(rejected: Rejected) -> Self {
        Stop::Rejected(rejected)
    }
}

impl From<Error> for Stop {
    fn from(error: Error) -> Self {
        Stop::Redis(error)
    }
}

impl<C: ConnectionLike + Clone + Send + Sync> EventConsumer<C> {
    /// Checks the entry `id` and hands it to `handler`, or leaves it pending, or dead-letters it:
    /// the one place where a rejected entry becomes a dead letter. `fields` is `None` for an entry
    /// deleted while pending; `deliveries` is its delivery count, this one included.
    pub(super) async fn deliver<R, T, H, Fut, E>(
        &self,
        registry: &R,
        handler: &mut H,
        id: &str,
        fields: Option<Vec<(Vec<u8>, Vec<u8>)>>,
        deliveries: u64,
    ) -> Result<Outcome, Error>
    where
        R: TenantRegistry,
        T: DeserializeOwned,
        H: FnMut(TenantCtx, T) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: fmt::Display,
    {
        let handled = self
            .check_and_handle(registry, handler, id, fields.as_deref(), deliveries)
            .await;
        match handled {
            Ok(outcome) => Ok(outcome),
            Err(Stop::Rejected(rejected)) => {
                // The dead letter keeps the entry's envelope, kid and sig, unless its fields
                // were refused (or it has none left).
                let copy = fields
                    .as_deref()
                    .and_then(|fields| read_fields(fields).ok())
                    .unwrap_or_default();
                self.dead_letter(id, copy, rejected).await?;
                Ok(Outcome::DeadLettered)
            }
            Err(Stop::GiveBack(outcome)) => {
                self.give_back(id, deliveries).await?;
                Ok(outcome)
            }
            Err(Stop::Redis(error)) => Err(error),
        }
    }

    /// The checks of the [delivery](crate::events#delivery) in their order, then the handler and
    /// the acknowledgement.
    async fn check_and_handle<R, T, H, Fut, E>(
        &self,
        registry: &R,
        handler: &mut H,
        id: &str,
        fields: Option<&[(Vec<u8>, Vec<u8>)]>,
        deliveries: u64,
    ) -> Result<Outcome, Stop>
    where
        R: TenantRegistry,
        T: DeserializeOwned,
        H: FnMut(TenantCtx, T) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: fmt::Display,
    {
        // 1 to 3. The fields, the signature and the envelope: the entry alone decides.
        let envelope: ReceivedEnvelope<T> = check_entry(&self.keys, &self.stream, fields)?;
        let tenant_id = &envelope.tenant_id;
        // 4. The tenant.
        let ctx = self.verify_tenant(registry, id, &envelope).await?;
        // 5. The delivery count.
        let max = u64::from(self.max_deliveries);
        if deliveries > max {
            let detail = format!(
                "delivery {deliveries} of at most {max}: the handler never finished \
                 (its consumer stopped while handling the event?)"
            );
            return Err(Rejected::new(Reason::TooManyDeliveries, detail)
                .claiming(tenant_id)
                .into());
        }
        match handler(ctx, envelope.payload).await {
            Ok(()) => {
                self.ack(id).await?;
                Ok(Outcome::Handled)
            }
            Err(error) if deliveries >= max => {
                let detail =
                    format!("the handler failed on delivery {deliveries} of {max}: {error}");
                Err(Rejected::new(Reason::TooManyDeliveries, detail)
                    .claiming(tenant_id)
                    .into())
            }
            Err(error) => {
                tracing::warn!(
                    stream = %self.stream,
                    entry_id = %id,
                    tenant_id = %tenant_id,
                    delivery = deliveries,
                    max_deliveries = max,
                    error = %error,
                    "event handler failed; event left pending for a retry"
                );
                Ok(Outcome::Failed)
            }
        }
    }

    /// The envelope's tenant id is a claim, verified like every claim (exists, active, allowed;
    /// schema and plan from the registry).
    async fn verify_tenant<R: TenantRegistry, T>(
        &self,
        registry: &R,
        id: &str,
        envelope: &ReceivedEnvelope<T>,
    ) -> Result<TenantCtx, Stop> {
        let tenant_id = &envelope.tenant_id;
        let claim = TenantClaim::new(tenant_id.clone());
        let refused = match claim.verify(registry, &self.tenancy).await {
            Ok(ctx) => return Ok(ctx),
            Err(refused) => refused,
        };
        let rejected = match &refused {
            ClaimError::Unknown => {
                let since = entry_millis(id).map_or(envelope.occurred_at_ms, |added| {
                    added.min(envelope.occurred_at_ms)
                });
                let now = u64::try_from(to_unix_millis(SystemTime::now())).unwrap_or(0);
                let age = Duration::from_millis(now.saturating_sub(since));
                if age < self.grace {
                    tracing::info!(
                        stream = %self.stream,
                        entry_id = %id,
                        claimed_tenant_id = %tenant_id,
                        age_ms = millis(age),
                        "tenant not in the registry; event left pending within the grace period"
                    );
                    return Err(Stop::GiveBack(Outcome::Deferred));
                }
                let detail = format!(
                    "no such tenant in the registry after the grace period of {} ms",
                    millis(self.grace)
                );
                Rejected::new(Reason::UnknownTenant, detail)
            }
            ClaimError::Registry(error) => {
                tracing::warn!(
                    stream = %self.stream,
                    entry_id = %id,
                    tenant_id = %tenant_id,
                    error = %error,
                    "tenant lookup failed; event left pending for a retry"
                );
                return Err(Stop::GiveBack(Outcome::Failed));
            }
            ClaimError::NotAllowed => Rejected::new(Reason::TenantNotAllowed, refused.to_string()),
            _ => Rejected::new(Reason::InactiveTenant, refused.to_string()),
        };
        Err(rejected.claiming(tenant_id).into())
    }

    async fn ack(&self, id: &str) -> Result<(), Error> {
        let mut conn = self.conn.clone();
        let _: u64 = redis::cmd("XACK")
            .arg(&self.stream)
            .arg(&self.group)
            .arg(id)
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Undoes the delivery count of a delivery that never reached the handler (the entry stays
    /// pending on this consumer, its idle time restarting): `XCLAIM .. RETRYCOUNT .. JUSTID`.
    async fn give_back(&self, id: &str, deliveries: u64) -> Result<(), Error> {
        let mut conn = self.conn.clone();
        let _: Value = redis::cmd("XCLAIM")
            .arg(&self.stream)
            .arg(&self.group)
            .arg(&self.consumer)
            .arg(0)
            .arg(id)
            .arg("RETRYCOUNT")
            .arg(deliveries.saturating_sub(1))
            .arg("JUSTID")
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Copies the entry to the dead-letter stream with its reason and acknowledges it, in one
    /// `MULTI`/`EXEC`, so it is neither lost nor left pending.
    async fn dead_letter(
        &self,
        id: &str,
        copy: Signed<'_>,
        rejected: Rejected,
    ) -> Result<(), Error> {
        let Rejected {
            reason,
            detail,
            claimed_tenant,
        } = rejected;
        // The detail may quote hostile input (serde errors do): keep it short.
        let detail: String = detail.chars().take(200).collect();
        tracing::warn!(
            stream = %self.stream,
            entry_id = %id,
            reason = reason.as_str(),
            detail = %detail,
            claimed_tenant_id = claimed_tenant.as_ref().map(TenantId::as_str),
            "event dead-lettered"
        );
        let mut xadd = redis::cmd("XADD");
        xadd.arg(&self.dead)
            .arg("*")
            .arg("reason")
            .arg(reason.as_str())
            .arg("detail")
            .arg(&detail)
            .arg("source_id")
            .arg(id)
            .arg("group")
            .arg(&self.group);
        for (field, value) in [
            (ENVELOPE_FIELD, copy.envelope),
            (KEY_ID_FIELD, copy.key_id),
            (SIGNATURE_FIELD, copy.tag),
        ] {
            if let Some(value) = value {
                xadd.arg(field).arg(value);
            }
        }
        let mut pipe = redis::pipe();
        pipe.atomic()
            .add_command(xadd)
            .ignore()
            .cmd("XACK")
            .arg(&self.stream)
            .arg(&self.group)
            .arg(id)
            .ignore();
        let mut conn = self.conn.clone();
        let () = pipe.query_async(&mut conn).await?;
        Ok(())
    }
}

/// The milliseconds part of an entry id (`<ms>-<seq>`): when Redis appended the entry.
fn entry_millis(id: &str) -> Option<u64> {
    id.split_once('-')?.0.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_give_their_time() {
        assert_eq!(entry_millis("1764100000000-3"), Some(1_764_100_000_000));
        assert_eq!(entry_millis("garbage"), None);
        assert_eq!(entry_millis("-1"), None);
    }
}
