//! The zero-downtime switch: a candidate instance starts beside the serving one, and only once
//! it is ready (socket, health SERVING, Describe, a valid manifest naming the same module, work
//! lanes open) does the runner publish it; the old instance then drains through the normal
//! stop sequence (it takes no new work, what it took finishes, then `Shutdown`). A candidate
//! that fails at any step is stopped and the serving instance is left untouched. Restarts of a
//! ready module, config reloads and (later) deployments all go through here.

use std::process::ExitStatus;

use tokio::sync::{mpsc, oneshot};

use super::context::Context;
use super::instance::{Instance, Ready};
use super::{Control, Member};
use crate::config::ModuleSpec;

/// How a candidate's start ended.
pub(super) enum Candidate {
    /// It is ready to take over.
    Ready(Box<Instance>, Box<Ready>),
    /// It failed (and was stopped); the serving instance keeps serving, unless it exited
    /// meanwhile (its status is given then).
    Failed {
        reason: String,
        serving_exited: Option<ExitStatus>,
    },
    /// The module is being stopped for good; the candidate is gone.
    Stopped(Option<oneshot::Sender<()>>),
}

/// Starts a candidate for `spec` beside `serving`. Commands that arrive meanwhile: a stop
/// abandons the candidate, restarts are merged into this switch, and another replacement is
/// refused (one switch at a time).
pub(super) async fn start_candidate(
    module: &Member,
    ctx: &Context,
    control: &mut mpsc::UnboundedReceiver<Control>,
    serving: &mut Instance,
    spec: &ModuleSpec,
) -> Candidate {
    if let Err(missing) = super::sandboxing::check_command(spec) {
        return Candidate::Failed {
            reason: format!("the new instance cannot start: {missing}"),
            serving_exited: None,
        };
    }
    let mut candidate = match Instance::spawn(module, spec, ctx).await {
        Ok(candidate) => candidate,
        Err(error) => {
            return Candidate::Failed {
                reason: format!("the new instance cannot start: {error}"),
                serving_exited: None,
            }
        }
    };
    module.event(format!(
        "instance {} started beside {} (helper pid {}); it takes over once ready",
        candidate.id, serving.id, candidate.helper_pid
    ));
    let mut serving_exited = None;
    let handshake = {
        let handshake = candidate.handshake(spec);
        tokio::pin!(handshake);
        loop {
            tokio::select! {
                ready = &mut handshake => break ready.map_err(HandshakeEnd::from),
                status = serving.wait(), if serving_exited.is_none() => {
                    // Nothing serves until the candidate is ready (or the module restarts).
                    module.publish(None);
                    serving_exited = Some(status);
                }
                command = control.recv() => match command {
                    Some(Control::Restart) => {}
                    Some(Control::Replace(_, reply)) => {
                        let _ = reply.send(Err(
                            "another new version is being started for this module; retry once it has taken over or failed".into(),
                        ));
                    }
                    Some(Control::Stop(reply)) => break Err(Stop(Some(reply))),
                    None => break Err(Stop(None)),
                },
            }
        }
    };
    match handshake {
        Ok(ready) => Candidate::Ready(Box::new(candidate), Box::new(ready)),
        Err(Stop(reply)) => {
            candidate.kill().await;
            Candidate::Stopped(reply)
        }
        Err(StartFailure(error)) => {
            candidate.kill().await;
            let tail = module
                .logs
                .tail_text(3, crate::process::Stream::Stderr)
                .join(" | ");
            let reason = if tail.is_empty() {
                format!(
                    "the new instance {} did not become ready: {error}",
                    candidate.id
                )
            } else {
                format!(
                    "the new instance {} did not become ready: {error}; last stderr: {tail}",
                    candidate.id
                )
            };
            Candidate::Failed {
                reason,
                serving_exited,
            }
        }
    }
}

/// Why a candidate's handshake did not produce a ready instance.
enum HandshakeEnd {
    /// The module is being stopped.
    Stop(Option<oneshot::Sender<()>>),
    /// The candidate failed.
    StartFailure(super::instance::StartError),
}
use HandshakeEnd::{StartFailure, Stop};

impl From<super::instance::StartError> for HandshakeEnd {
    fn from(error: super::instance::StartError) -> Self {
        StartFailure(error)
    }
}

/// Stops a replaced instance through the normal stop sequence, logging how it ended.
pub(super) async fn drain(module: Member, mut old: Instance) {
    let grace = module.spec().stop_grace;
    let how = old.stop(grace, "replaced by a new instance").await;
    module.event(format!("replaced instance {} {how}", old.id));
}
