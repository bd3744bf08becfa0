//! The JetStream streams, created or brought up to date at connect.
//!
//! * Topics (`[nats] stream`, subjects `convotic.*.topics.>`): file storage, **limits**
//!   retention with a maximum age of [`TOPICS_MAX_AGE`]. Every handler has its own durable
//!   consumer, so a message must stay until each of them is done with it; limits retention keeps
//!   it regardless of consumers (interest retention would drop messages published while a
//!   handler's consumer does not exist yet, and work-queue retention allows one consumer per
//!   subject). The age limit bounds the stream: a message no handler settled within 7 days is
//!   dropped. The age is only set when the stream is created; an operator may change it later
//!   (`nats stream edit`) and connecting again keeps their value.
//! * Dead letters (`[nats] dead_letter_stream`, subjects `convotic.*.dead.>`): file storage,
//!   limits retention without age: dead letters stay until they are re-driven or purged.
//!
//! * Outbox (`CONVOTIC_OUTBOX`, subjects `convotic.*.messages.>` and `convotic.*.workflows.>`):
//!   messages and workflow runs delivered to `nats` targets, kept 7 days.
//!
//! Every one deduplicates publishes on `Nats-Msg-Id` within `[nats] duplicate_window`, and is
//! created with `[nats] replicas` replicas (3 on a NATS cluster of three: the stream, and the
//! handlers' consumers, which inherit it, survive the loss of one server). On an existing
//! stream, connecting adds the bus's subjects if missing and sets the duplicate window; other
//! settings (replicas, limits, placement) are left as they are, with a warning when its
//! replicas differ from `[nats] replicas` (changing them is the operator's move:
//! `nats stream edit --replicas`).

use std::time::Duration;

use async_nats::jetstream::context::{
    Context, CreateStreamError, CreateStreamErrorKind, GetStreamError, GetStreamErrorKind,
    RequestError, RequestErrorKind,
};
use async_nats::jetstream::stream::{Config, DiscardPolicy, RetentionPolicy, StorageType};
use async_nats::jetstream::ErrorCode;

use crate::bus::BusError;
use crate::config::NatsConfig;

/// Maximum age of a topic message: 7 days.
pub const TOPICS_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// Subjects of the topics stream.
pub(crate) const TOPICS_SUBJECTS: &str = "convotic.*.topics.>";
/// Subjects of the dead-letter stream.
pub(crate) const DEAD_SUBJECTS: &str = "convotic.*.dead.>";

/// Subjects of the cron-claims stream.
pub(crate) const CRON_SUBJECTS: &str = "convotic.*.cron.>";
/// Name of the cron-claims stream.
pub(crate) const CRON_STREAM: &str = "CONVOTIC_CRON";
/// How long a cron tick's claim is remembered (the stream's duplicate window).
pub(crate) const CRON_CLAIM_WINDOW: Duration = Duration::from_secs(10 * 60);

/// Subjects of the outbox stream: messages and workflow runs handed to `nats` targets.
pub(crate) const OUTBOX_SUBJECTS: [&str; 2] = ["convotic.*.messages.>", "convotic.*.workflows.>"];
/// Name of the outbox stream.
pub(crate) const OUTBOX_STREAM: &str = "CONVOTIC_OUTBOX";

/// Creates or updates the topics, dead-letter, cron-claims and outbox streams.
pub(crate) async fn ensure_all(js: &Context, config: &NatsConfig) -> Result<(), BusError> {
    ensure(js, topics_config(config)).await?;
    ensure(js, dead_config(config)).await?;
    ensure(js, cron_config(config)).await?;
    ensure(js, outbox_config(config)).await
}

/// Messages and workflow runs delivered to `nats` targets (`convotic.<ws>.messages.<channel>`,
/// `convotic.<ws>.workflows.trigger`): kept 7 days for the platform's consumers, deduplicated
/// on `Nats-Msg-Id` (the item's id), so a retried delivery is stored once.
fn outbox_config(config: &NatsConfig) -> Config {
    Config {
        name: OUTBOX_STREAM.into(),
        description: Some("Convotic messages and workflow runs for the platform".into()),
        subjects: OUTBOX_SUBJECTS.iter().map(|s| s.to_string()).collect(),
        retention: RetentionPolicy::Limits,
        storage: StorageType::File,
        discard: DiscardPolicy::Old,
        max_age: TOPICS_MAX_AGE,
        duplicate_window: config.duplicate_window,
        num_replicas: config.replicas,
        ..Default::default()
    }
}

/// Claims of cron ticks: one tiny message per tick, deduplicated on its id within
/// [`CRON_CLAIM_WINDOW`], kept for an hour for diagnosis.
fn cron_config(config: &NatsConfig) -> Config {
    Config {
        name: CRON_STREAM.into(),
        description: Some("Convotic cron tick claims".into()),
        subjects: vec![CRON_SUBJECTS.into()],
        retention: RetentionPolicy::Limits,
        storage: StorageType::File,
        discard: DiscardPolicy::Old,
        max_age: Duration::from_secs(60 * 60),
        duplicate_window: CRON_CLAIM_WINDOW,
        num_replicas: config.replicas,
        ..Default::default()
    }
}

/// Creates or updates the topics stream.
pub(crate) async fn ensure_topics(js: &Context, config: &NatsConfig) -> Result<(), BusError> {
    ensure(js, topics_config(config)).await
}

fn topics_config(config: &NatsConfig) -> Config {
    Config {
        name: config.stream.clone(),
        description: Some("Convotic module topics".into()),
        subjects: vec![TOPICS_SUBJECTS.into()],
        retention: RetentionPolicy::Limits,
        storage: StorageType::File,
        discard: DiscardPolicy::Old,
        max_age: TOPICS_MAX_AGE,
        duplicate_window: config.duplicate_window,
        num_replicas: config.replicas,
        ..Default::default()
    }
}

fn dead_config(config: &NatsConfig) -> Config {
    Config {
        name: config.dead_letter_stream.clone(),
        description: Some("Convotic dead letters".into()),
        subjects: vec![DEAD_SUBJECTS.into()],
        retention: RetentionPolicy::Limits,
        storage: StorageType::File,
        discard: DiscardPolicy::Old,
        duplicate_window: config.duplicate_window,
        num_replicas: config.replicas,
        ..Default::default()
    }
}

/// Attempts at creating a stream that other supervisors may be creating at the same moment.
const CREATE_ATTEMPTS: usize = 3;

/// Creates the stream, or brings an existing one up to date (see the module's comment).
///
/// Supervisors of a cluster starting together all find the stream missing and create it at
/// once. With identical configurations nats-server answers each with the stream, except that
/// on a NATS cluster (2.9.10 seen) a creation racing another one of the same replicated stream,
/// or a lookup of it while it is being created, can go unanswered (the request times out), and
/// a creation can be refused as a name in use: then the stream is looked up again (up to
/// [`CREATE_ATTEMPTS`] times in all), and used if it is there now.
async fn ensure(js: &Context, wanted: Config) -> Result<(), BusError> {
    let name = wanted.name.clone();
    let mut attempt = 1;
    loop {
        match js.get_stream(&name).await {
            Ok(stream) => return update(js, stream.cached_info().config.clone(), &wanted).await,
            Err(err) => match err.kind() {
                GetStreamErrorKind::JetStream(js_err)
                    if js_err.error_code() == ErrorCode::STREAM_NOT_FOUND => {}
                GetStreamErrorKind::EmptyName | GetStreamErrorKind::InvalidStreamName => {
                    return Err(BusError::InvalidArgument(format!(
                        "nats: {name:?} is not a valid stream name"
                    )))
                }
                _ if attempt < CREATE_ATTEMPTS && lookup_timed_out(&err) => {
                    tracing::info!(stream = %name, error = %err, "looking up the NATS stream timed out, perhaps while another supervisor created it; looking again");
                    attempt += 1;
                    continue;
                }
                _ => {
                    return Err(BusError::Unavailable(format!(
                        "cannot read NATS stream {name} (is JetStream enabled on the server?): \
                         {err}"
                    )))
                }
            },
        }
        match js.create_stream(wanted.clone()).await {
            Ok(_) => {
                tracing::info!(stream = %name, replicas = wanted.num_replicas, "created the NATS stream");
                return Ok(());
            }
            Err(err) if attempt < CREATE_ATTEMPTS && maybe_created_by_another(&err) => {
                tracing::info!(stream = %name, error = %err, "creating the NATS stream failed, perhaps while another supervisor created it; looking again");
                attempt += 1;
            }
            Err(err) => {
                return Err(BusError::Unavailable(format!(
                    "cannot create NATS stream {name}: {err}"
                )))
            }
        }
    }
}

/// Whether a lookup failed for want of an answer in time.
fn lookup_timed_out(err: &GetStreamError) -> bool {
    std::error::Error::source(err)
        .and_then(|source| source.downcast_ref::<RequestError>())
        .is_some_and(|request| request.kind() == RequestErrorKind::TimedOut)
}

/// Whether a failed creation may be due to another client creating the same stream.
fn maybe_created_by_another(err: &CreateStreamError) -> bool {
    match err.kind() {
        CreateStreamErrorKind::TimedOut => true,
        CreateStreamErrorKind::JetStream(js_err) => {
            js_err.error_code() == ErrorCode::STREAM_NAME_EXIST
        }
        _ => false,
    }
}

/// Adds the bus's subjects to an existing stream's `config` and sets its duplicate window;
/// warns when its replicas differ from the configured ones (left as they are).
async fn update(js: &Context, mut config: Config, wanted: &Config) -> Result<(), BusError> {
    let name = &wanted.name;
    let mut changed = false;
    for subject in &wanted.subjects {
        if !config.subjects.contains(subject) {
            config.subjects.push(subject.clone());
            changed = true;
        }
    }
    if config.duplicate_window != wanted.duplicate_window {
        config.duplicate_window = wanted.duplicate_window;
        changed = true;
    }
    if config.num_replicas != wanted.num_replicas {
        tracing::warn!(stream = %name, replicas = config.num_replicas, configured = wanted.num_replicas, "the NATS stream exists with other replicas than [nats] replicas; left as it is (change them with `nats stream edit --replicas`)");
    }
    if changed {
        js.update_stream(config).await.map_err(|err| {
            BusError::Unavailable(format!("cannot update NATS stream {name}: {err}"))
        })?;
        tracing::info!(stream = %name, "updated the NATS stream's subjects or duplicate window");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stream_is_created_with_the_configured_replicas() {
        let config = NatsConfig {
            url: "nats://127.0.0.1:4222".into(),
            stream: "CONVOTIC_TOPICS".into(),
            dead_letter_stream: "CONVOTIC_DEAD".into(),
            duplicate_window: Duration::from_secs(120),
            request_timeout: Duration::from_secs(5),
            replicas: 3,
        };
        let streams = [
            topics_config(&config),
            dead_config(&config),
            cron_config(&config),
            outbox_config(&config),
        ];
        for stream in &streams {
            assert_eq!(stream.num_replicas, 3, "{}", stream.name);
        }
        let names: Vec<&str> = streams.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "CONVOTIC_TOPICS",
                "CONVOTIC_DEAD",
                CRON_STREAM,
                OUTBOX_STREAM
            ]
        );
    }
}
