//! Cron tick claims: every supervisor sharing the NATS server publishes the same message id for
//! a tick on the cron-claims stream, and the stream's duplicate window stores one of them.
//!
//! The stored message carries a random id drawn for this one claim, so a publish whose
//! acknowledgement was lost (a timeout while the stream elects a new leader after a NATS server
//! died) can be tried again: the retry is a duplicate, and the supervisor reads the stored
//! claim back to learn whether the first attempt was its own. Without this, a lost
//! acknowledgement lost the tick on every node. A second claim of the same tick (a scheduler
//! that restarted) draws another id, so it never wins a tick already won. Errors, and a
//! duplicate acknowledged without the stored sequence (nats-server 2.10 while the original is
//! still being replicated), are retried until [`CLAIM_RETRY_WITHIN`] has passed, each attempt
//! bounded by what is left; after that the tick is reported unclaimable.

use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use bytes::Bytes;

use super::streams::CRON_STREAM;
use super::Shared;
use crate::bus::BusError;

/// How long a tick's claim is tried again after NATS errors (a JetStream leader election
/// after the loss of a server takes a few seconds).
pub(crate) const CLAIM_RETRY_WITHIN: Duration = Duration::from_secs(20);
/// The first pause between attempts (doubled each time, up to [`MAX_PAUSE`]).
const FIRST_PAUSE: Duration = Duration::from_millis(250);
/// The longest pause between attempts.
const MAX_PAUSE: Duration = Duration::from_secs(4);

/// Claims the tick `id` on `subject`: `Ok(true)` when the stored claim is this call's (its
/// first publish, or a retry of it), `Ok(false)` when another's is.
pub(crate) async fn claim(shared: &Shared, subject: String, id: &str) -> Result<bool, BusError> {
    let claimer = hex::encode(rand::random::<[u8; 16]>());
    let claim = Bytes::from(format!("{id} {claimer}"));
    let deadline = Instant::now() + CLAIM_RETRY_WITHIN;
    let mut pause = FIRST_PAUSE;
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let left = deadline.saturating_duration_since(Instant::now());
        let attempt = tokio::time::timeout(left, try_claim(shared, &subject, id, &claim))
            .await
            .unwrap_or_else(|_| Err("no answer from NATS in time".to_string()));
        match attempt {
            Ok(won) => {
                if attempts > 1 {
                    tracing::info!(tick = %id, won, attempts, "cron tick claimed after NATS errors");
                }
                return Ok(won);
            }
            Err(e) if Instant::now() + pause < deadline => {
                tracing::debug!(tick = %id, error = %e, "cannot claim cron tick yet, retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
            }
            Err(e) => {
                return Err(BusError::Unavailable(format!(
                    "cannot claim cron tick {id} ({attempts} attempts within {}): {e}",
                    humantime::format_duration(CLAIM_RETRY_WITHIN)
                )))
            }
        }
    }
}

/// One attempt: publish the claim, and on a duplicate read the stored one back.
async fn try_claim(
    shared: &Shared,
    subject: &str,
    id: &str,
    claim: &Bytes,
) -> Result<bool, String> {
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", id);
    let ack = shared
        .js
        .publish_with_headers(subject.to_string(), headers, claim.clone())
        .await
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    if !ack.duplicate {
        return Ok(true);
    }
    // A duplicate's acknowledgement carries the sequence of the stored claim, or 0 while the
    // original is still being replicated (nats-server 2.10): undecided, asked again.
    if ack.sequence == 0 {
        return Err("the stored claim is not known yet".into());
    }
    let stream = shared
        .js
        .get_stream_no_info(CRON_STREAM)
        .await
        .map_err(|e| e.to_string())?;
    match stream.get_raw_message(ack.sequence).await {
        Ok(stored) => Ok(stored.payload == *claim),
        Err(e)
            if matches!(
                e.kind(),
                async_nats::jetstream::stream::RawMessageErrorKind::NoMessageFound
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(e.to_string()),
    }
}
