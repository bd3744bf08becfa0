//! Signed requests and answers between the nodes of a cluster.
//!
//! The nodes share a random key kept in the store (`Store::cluster_key`, made by the first node
//! that asks). A request travels as `<HMAC-SHA256 in hex>\n<JSON envelope>`. The envelope holds
//! the subject it is meant for, when it was made and a random nonce. A node acts only on a
//! request that:
//!
//! * carries a valid MAC;
//! * names the subject it arrived on, and the reply subject it came with;
//! * is at most [`MAX_AGE`] old (or ahead, for skewed clocks);
//! * has a nonce it has not seen within that time (while this process runs).
//!
//! A request whose MAC is wrong, or whose reply subject is not the signed one, gets no answer
//! at all: the reply subject is the sender's choice, and an answer published there (by the
//! supervisors' NATS user) could be a request to NATS itself (`$JS.API.…`). An answer is signed
//! over the request's nonce, so an answer from anyone but the node asked, or an answer to
//! another request, is not taken. Whoever can publish on the NATS server but cannot read the
//! store can neither make nodes act, nor make them publish anywhere, nor fake a node's
//! answer.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};

use super::cluster::{Reply, Request};

/// How far a request's time may be from this node's clock (transit and clock skew).
pub(super) const MAX_AGE: Duration = Duration::from_secs(5 * 60);
/// Most nonces remembered at once: requests beyond are refused until old ones expire.
const MAX_SEEN: usize = 100_000;
/// Nonces older than [`MAX_AGE`] are dropped each time this many more were remembered.
const PRUNE_EVERY: usize = 1024;
/// Version of the envelope.
const VERSION: u32 = 1;
/// Length of a MAC in hex.
const MAC_HEX: usize = 64;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// A request as it travels, inside the signature.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    /// [`VERSION`].
    v: u32,
    /// The subject it is sent on.
    to: String,
    /// The subject the answer goes to (none for an announcement).
    reply: Option<String>,
    /// When it was made (ms since the Unix epoch, the sender's clock).
    at_ms: u64,
    /// Random, never used twice.
    nonce: String,
    /// What is asked.
    request: Request,
}

/// A request this node may act on.
#[derive(Debug)]
pub(super) struct Opened {
    /// What is asked.
    pub request: Request,
    /// Its nonce, to sign the answer with.
    pub nonce: String,
}

/// Why a request is not acted on.
#[derive(Debug)]
pub(super) struct Refusal {
    /// What was wrong.
    pub why: String,
    /// The request's nonce when its signature and reply subject are right (a replay, a stale
    /// request): a signed refusal may go to its reply subject. None: no answer at all.
    pub answerable: Option<String>,
}

impl Refusal {
    fn silent(why: String) -> Self {
        Self {
            why,
            answerable: None,
        }
    }
}

/// The cluster key and the nonces seen lately.
pub(super) struct ClusterAuth {
    key: Vec<u8>,
    seen: Mutex<HashMap<String, u64>>,
}

impl ClusterAuth {
    /// Signs and checks with `key`.
    pub(super) fn new(key: Vec<u8>) -> Self {
        Self {
            key,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// `request` for subject `to`, answered on `reply`, signed; and its nonce (the answer is
    /// signed over it).
    pub(super) fn seal_request(
        &self,
        to: &str,
        reply: Option<&str>,
        request: &Request,
    ) -> (Vec<u8>, String) {
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        let envelope = Envelope {
            v: VERSION,
            to: to.to_string(),
            reply: reply.map(str::to_string),
            at_ms: now_ms(),
            nonce: nonce.clone(),
            request: request.clone(),
        };
        let body = serde_json::to_vec(&envelope).expect("a request serializes");
        (self.signed(b"request", &[], body), nonce)
    }

    /// The request in `payload`, received on `subject` with reply subject `reply`, if it may
    /// be acted on; else why not.
    pub(super) fn open_request(
        &self,
        subject: &str,
        reply: Option<&str>,
        payload: &[u8],
    ) -> Result<Opened, Refusal> {
        let body = self
            .verified(b"request", &[], payload)
            .map_err(Refusal::silent)?;
        let envelope: Envelope = serde_json::from_slice(body)
            .map_err(|e| Refusal::silent(format!("unreadable request: {e}")))?;
        if envelope.v != VERSION {
            return Err(Refusal::silent(format!(
                "request version {} is not {VERSION}",
                envelope.v
            )));
        }
        if envelope.to != subject {
            return Err(Refusal::silent(format!(
                "the request is meant for {}, not {subject}",
                envelope.to
            )));
        }
        if envelope.reply.as_deref() != reply {
            return Err(Refusal::silent(
                "the request came with another reply subject than the one signed".into(),
            ));
        }
        let refused = |why: String| Refusal {
            why,
            answerable: Some(envelope.nonce.clone()),
        };
        let now = now_ms();
        let max_age = MAX_AGE.as_millis() as u64;
        if envelope.at_ms.abs_diff(now) > max_age {
            return Err(refused(format!(
                "the request was made {} ms from this node's clock (more than {}): a replay, \
                 or clocks out of sync",
                i128::from(now) - i128::from(envelope.at_ms),
                humantime::format_duration(MAX_AGE)
            )));
        }
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= MAX_SEEN || seen.len() % PRUNE_EVERY == PRUNE_EVERY - 1 {
            seen.retain(|_, at| at.abs_diff(now) <= max_age);
        }
        if seen.len() >= MAX_SEEN {
            return Err(refused(format!(
                "more than {MAX_SEEN} requests within {}",
                humantime::format_duration(MAX_AGE)
            )));
        }
        if seen
            .insert(envelope.nonce.clone(), envelope.at_ms)
            .is_some()
        {
            return Err(refused("the request was received before (a replay)".into()));
        }
        drop(seen);
        Ok(Opened {
            request: envelope.request,
            nonce: envelope.nonce,
        })
    }

    /// `reply` to the request of `nonce`, signed.
    pub(super) fn seal_reply(&self, nonce: &str, reply: &Reply) -> Vec<u8> {
        let body = serde_json::to_vec(reply).expect("an answer serializes");
        self.signed(b"reply", nonce.as_bytes(), body)
    }

    /// The answer in `payload` to the request of `nonce`, if signed for it.
    pub(super) fn open_reply(&self, nonce: &str, payload: &[u8]) -> Result<Reply, String> {
        let body = self.verified(b"reply", nonce.as_bytes(), payload)?;
        serde_json::from_slice(body).map_err(|e| format!("unreadable answer: {e}"))
    }

    /// `<mac>\n<body>`, the MAC over `label`, `context` and `body`.
    fn signed(&self, label: &[u8], context: &[u8], body: Vec<u8>) -> Vec<u8> {
        let tag = self.mac(label, context, &body).finalize().into_bytes();
        let mut out = hex::encode(tag).into_bytes();
        out.push(b'\n');
        out.extend_from_slice(&body);
        out
    }

    /// The body of `payload` if its MAC is right.
    fn verified<'a>(
        &self,
        label: &[u8],
        context: &[u8],
        payload: &'a [u8],
    ) -> Result<&'a [u8], String> {
        const UNSIGNED: &str = "not signed with this cluster's key (a foreign publisher, or a \
                                node of an older version: upgrade every node)";
        if payload.len() <= MAC_HEX || payload[MAC_HEX] != b'\n' {
            return Err(UNSIGNED.into());
        }
        let (tag, body) = (&payload[..MAC_HEX], &payload[MAC_HEX + 1..]);
        let tag = hex::decode(tag).map_err(|_| UNSIGNED.to_string())?;
        self.mac(label, context, body)
            .verify_slice(&tag)
            .map_err(|_| "signed with another key than this cluster's".to_string())?;
        Ok(body)
    }

    fn mac(&self, label: &[u8], context: &[u8], body: &[u8]) -> HmacSha256 {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC takes keys of any length");
        for part in [b"convotic cluster v1".as_slice(), label, context] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.update(body);
        mac
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBJECT: &str = "convotic.cluster.node.abc";
    const INBOX: &str = "_INBOX.abc.1";

    fn switch() -> Request {
        Request::Switch {
            deployment: "dep_1".into(),
        }
    }

    #[test]
    fn a_signed_request_opens_once_on_its_subject_and_reply_subject() {
        let auth = ClusterAuth::new(vec![7; 32]);
        let (sealed, nonce) = auth.seal_request(SUBJECT, Some(INBOX), &switch());
        let opened = auth.open_request(SUBJECT, Some(INBOX), &sealed).unwrap();
        assert_eq!(opened.nonce, nonce);
        assert!(
            matches!(opened.request, Request::Switch { ref deployment } if deployment == "dep_1")
        );
        // A replay may be answered (signed, to the signed inbox), and is not acted on.
        let replayed = auth
            .open_request(SUBJECT, Some(INBOX), &sealed)
            .unwrap_err();
        assert!(replayed.why.contains("replay"), "{replayed:?}");
        assert_eq!(replayed.answerable.as_deref(), Some(nonce.as_str()));
        let (sealed, _) = auth.seal_request(SUBJECT, Some(INBOX), &switch());
        let elsewhere = auth
            .open_request("convotic.cluster.node.other", Some(INBOX), &sealed)
            .unwrap_err();
        assert!(elsewhere.why.contains("meant for"), "{elsewhere:?}");
        // Another reply subject than the signed one: no answer at all (it could be NATS's API).
        let redirected = auth
            .open_request(SUBJECT, Some("$JS.API.STREAM.PURGE.X"), &sealed)
            .unwrap_err();
        assert!(redirected.why.contains("reply subject"), "{redirected:?}");
        assert!(redirected.answerable.is_none());
        let (announcement, _) = auth.seal_request(SUBJECT, None, &switch());
        assert!(auth
            .open_request(SUBJECT, Some(INBOX), &announcement)
            .is_err());
        assert!(auth.open_request(SUBJECT, None, &announcement).is_ok());
    }

    #[test]
    fn requests_without_the_key_or_altered_are_refused_without_an_answer() {
        let auth = ClusterAuth::new(vec![7; 32]);
        let stranger = ClusterAuth::new(vec![8; 32]);
        let (forged, _) = stranger.seal_request(SUBJECT, Some(INBOX), &switch());
        let err = auth
            .open_request(SUBJECT, Some(INBOX), &forged)
            .unwrap_err();
        assert!(err.why.contains("another key"), "{err:?}");
        assert!(err.answerable.is_none());
        let unsigned = serde_json::to_vec(&Request::Reload).unwrap();
        let err = auth
            .open_request(SUBJECT, Some(INBOX), &unsigned)
            .unwrap_err();
        assert!(err.why.contains("not signed"), "{err:?}");
        assert!(err.answerable.is_none());
        for bad in [&b""[..], b"\n", &[b'a'; 65]] {
            let err = auth.open_request(SUBJECT, Some(INBOX), bad).unwrap_err();
            assert!(err.answerable.is_none());
        }
        let (mut sealed, _) = auth.seal_request(SUBJECT, Some(INBOX), &switch());
        let at = sealed.len() - 3;
        sealed[at] ^= 1;
        assert!(auth.open_request(SUBJECT, Some(INBOX), &sealed).is_err());
    }

    #[test]
    fn old_requests_are_refused() {
        let auth = ClusterAuth::new(vec![7; 32]);
        let envelope = Envelope {
            v: VERSION,
            to: SUBJECT.into(),
            reply: None,
            at_ms: now_ms() - MAX_AGE.as_millis() as u64 - 1_000,
            nonce: "n1".into(),
            request: Request::Reload,
        };
        let sealed = auth.signed(b"request", &[], serde_json::to_vec(&envelope).unwrap());
        let err = auth.open_request(SUBJECT, None, &sealed).unwrap_err();
        assert!(err.why.contains("clocks out of sync"), "{err:?}");
    }

    #[test]
    fn answers_open_only_for_their_request() {
        let auth = ClusterAuth::new(vec![7; 32]);
        let reply = auth.seal_reply("nonce-1", &Reply::done("switched".into()));
        assert_eq!(
            auth.open_reply("nonce-1", &reply).unwrap().message,
            "switched"
        );
        assert!(auth.open_reply("nonce-2", &reply).is_err());
        let stranger = ClusterAuth::new(vec![8; 32]);
        let forged = stranger.seal_reply("nonce-1", &Reply::done("switched".into()));
        assert!(auth.open_reply("nonce-1", &forged).is_err());
        // A request signature is not an answer's.
        let (request, nonce) = auth.seal_request(SUBJECT, Some(INBOX), &switch());
        assert!(auth.open_reply(&nonce, &request).is_err());
    }
}
