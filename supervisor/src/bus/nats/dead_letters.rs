//! Listing and re-driving dead letters, read from the dead-letter stream by sequence.
//!
//! Listing walks the stream with `STREAM.MSG.GET` requests "first message on
//! `convotic.W.dead.>` at or after sequence N" (available on nats-server 2.9); the page token is
//! the sequence to start from.
//!
//! Re-driving publishes the payload and the publisher's headers again on the topic subject with
//! `Convotic-Only-Handler: <durable name>`, so that only the handler that gave up receives it
//! (the others acknowledge and skip it), and `Convotic-Redrive-Of: <message id>`: the delivery
//! keeps the message's id, as on the embedded backend. Its `Nats-Msg-Id` is new (the original
//! one may still be inside the duplicate window), derived from the dead letter so that two
//! concurrent re-drives of one dead letter store one message. It also keeps its publication
//! time. The dead letter is then deleted.

use std::collections::BTreeMap;

use async_nats::jetstream::message::StreamMessage;
use async_nats::jetstream::stream::{DeleteMessageErrorKind, RawMessageErrorKind, Stream};
use sha2::{Digest, Sha256};

use super::headers;
use super::Shared;
use crate::bus::{BusError, DeadLetter, DeadLetterPage, Published, SubscriptionSpec};

/// Page size when the caller asks for 0.
const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest page.
const MAX_PAGE_SIZE: u32 = 500;

async fn dead_stream(shared: &Shared) -> Result<Stream<()>, BusError> {
    let name = &shared.config.dead_letter_stream;
    shared.js.get_stream_no_info(name).await.map_err(|err| {
        BusError::InvalidArgument(format!("nats: bad dead-letter stream {name:?}: {err}"))
    })
}

/// One page of `workspace`'s dead letters, oldest first.
pub(crate) async fn list(
    shared: &Shared,
    workspace: &str,
    page_size: u32,
    page_token: &str,
) -> Result<DeadLetterPage, BusError> {
    headers::check_workspace(workspace)?;
    let size = match page_size {
        0 => DEFAULT_PAGE_SIZE,
        n if n <= MAX_PAGE_SIZE => n,
        n => {
            return Err(BusError::InvalidArgument(format!(
                "page_size: must be 1-{MAX_PAGE_SIZE} (0 = {DEFAULT_PAGE_SIZE}), got {n}"
            )))
        }
    } as usize;
    let mut sequence: u64 = if page_token.is_empty() {
        1
    } else {
        page_token.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
            BusError::InvalidArgument(format!("page_token: {page_token:?} is not a page token"))
        })?
    };
    let stream = dead_stream(shared).await?;
    let filter = headers::dead_filter(workspace);
    let mut dead_letters = Vec::new();
    let mut next_page_token = None;
    loop {
        match stream
            .get_first_raw_message_by_subject(&filter, sequence)
            .await
        {
            Ok(message) => {
                if dead_letters.len() == size {
                    next_page_token = Some(message.sequence.to_string());
                    break;
                }
                sequence = message.sequence.saturating_add(1);
                dead_letters.push(to_dead_letter(workspace, &message));
            }
            Err(err) if err.kind() == RawMessageErrorKind::NoMessageFound => break,
            Err(err) => {
                return Err(BusError::Unavailable(format!(
                    "cannot read dead letters from NATS stream {}: {err}",
                    shared.config.dead_letter_stream
                )))
            }
        }
    }
    Ok(DeadLetterPage {
        dead_letters,
        next_page_token,
    })
}

/// Publishes dead letter `id` of `workspace` again for its handler and deletes it.
pub(crate) async fn retry(
    shared: &Shared,
    workspace: &str,
    id: &str,
) -> Result<Published, BusError> {
    headers::check_workspace(workspace)?;
    let not_found = || BusError::NotFound(format!("dead letter {id:?} not found in {workspace}"));
    let sequence: u64 = id
        .strip_prefix("dl_")
        .and_then(|s| s.parse().ok())
        .filter(|s| *s > 0)
        .ok_or_else(not_found)?;
    let stream = dead_stream(shared).await?;
    let message = match stream.get_raw_message(sequence).await {
        Ok(message) => message,
        Err(err) if err.kind() == RawMessageErrorKind::NoMessageFound => return Err(not_found()),
        Err(err) => {
            return Err(BusError::Unavailable(format!(
                "cannot read dead letter {id} from NATS: {err}"
            )))
        }
    };
    if !message
        .subject
        .as_str()
        .starts_with(&format!("convotic.{workspace}.dead."))
    {
        return Err(not_found());
    }
    let dead = to_dead_letter(workspace, &message);
    headers::check_topic(&dead.topic).map_err(|_| {
        BusError::Internal(format!(
            "dead letter {id} names no valid topic ({:?})",
            dead.topic
        ))
    })?;
    let durable = SubscriptionSpec {
        workspace: workspace.to_string(),
        module: dead.module.clone(),
        handler: dead.handler.clone(),
        topic: dead.topic.clone(),
        max_attempts: 1,
        ack_wait: std::time::Duration::from_secs(1),
        max_in_flight: 1,
    }
    .durable_name();
    let nats_id = redrive_id(
        &shared.config.dead_letter_stream,
        sequence,
        &dead.message_id,
    );
    let published_at_ms = match dead.published_at_ms {
        0 => headers::now_ms(),
        original => original,
    };
    let mut map = headers::to_nats_lossy(&dead.headers);
    headers::set(&mut map, headers::NATS_MSG_ID, &nats_id);
    headers::set(
        &mut map,
        headers::PUBLISHED_AT,
        &published_at_ms.to_string(),
    );
    headers::set(&mut map, headers::ONLY_HANDLER, &durable);
    headers::set(&mut map, headers::REDRIVE_OF, &dead.message_id);
    let ack = shared
        .publish(
            headers::topic_subject(workspace, &dead.topic),
            map,
            message.payload.clone(),
        )
        .await?;
    if let Err(err) = stream.delete_message(sequence).await {
        let gone = matches!(err.kind(), DeleteMessageErrorKind::JetStream(_))
            && matches!(
                stream.get_raw_message(sequence).await,
                Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound
            );
        if !gone {
            return Err(BusError::Unavailable(format!(
                "dead letter {id} was re-driven but could not be removed (retrying within the \
                 duplicate window does not deliver it twice): {err}"
            )));
        }
    }
    tracing::info!(workspace, dead_letter = id, message_id = %dead.message_id, handler = %dead.handler, "dead letter re-driven");
    Ok(Published {
        message_id: dead.message_id,
        duplicate: ack.duplicate,
    })
}

/// The `Nats-Msg-Id` of the re-drive of dead letter `sequence`: the same for every re-drive
/// of it, different from the message's own.
fn redrive_id(stream: &str, sequence: u64, original: &str) -> String {
    let digest = Sha256::digest(format!("redrive\0{stream}\0{sequence}\0{original}").as_bytes());
    format!("msg_{}", hex::encode(&digest[..16]))
}

fn to_dead_letter(workspace: &str, message: &StreamMessage) -> DeadLetter {
    let h = Some(&message.headers);
    let text = |name: &str| headers::get(h, name).unwrap_or_default().to_string();
    let payload = serde_json::from_slice(&message.payload).unwrap_or_else(|_| {
        serde_json::Value::String(String::from_utf8_lossy(&message.payload).into_owned())
    });
    let failed_at_ms = headers::get_u64(h, headers::FAILED_AT).unwrap_or_else(|| {
        u64::try_from(message.time.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
    });
    let headers: BTreeMap<String, String> = headers::from_nats(h);
    DeadLetter {
        id: format!("dl_{}", message.sequence),
        workspace: workspace.to_string(),
        module: text(headers::MODULE),
        handler: text(headers::HANDLER),
        topic: text(headers::TOPIC),
        message_id: text(headers::MESSAGE_ID),
        payload,
        headers,
        attempts: headers::get_u64(h, headers::ATTEMPTS)
            .and_then(|a| u32::try_from(a).ok())
            .unwrap_or(0),
        reason: text(headers::REASON),
        published_at_ms: headers::get_u64(h, headers::PUBLISHED_AT).unwrap_or(0),
        failed_at_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redrive_ids_are_stable_and_new() {
        let a = redrive_id("CONVOTIC_DEAD", 7, "msg_1");
        assert_eq!(a, redrive_id("CONVOTIC_DEAD", 7, "msg_1"));
        assert_ne!(a, redrive_id("CONVOTIC_DEAD", 8, "msg_1"));
        assert!(a.starts_with("msg_") && a.len() == 36, "{a}");
    }
}
