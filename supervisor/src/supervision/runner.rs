//! The per-module supervision loop: start, watch, restart with backoff, slow down crash loops.
//!
//! One task per configured module runs [`run`]. It owns the module's current [`Instance`] and
//! reacts to three things: the process exiting, health probes failing (or a work lane breaking),
//! and operator commands (stop, restart). Restart policy, backoff and the crash-loop rule are
//! those of docs/operations.md: like Kubernetes' CrashLoopBackOff, a module crashing more than
//! 5 times within 60 s is `crash-loop` and keeps being restarted, the delay growing up to its
//! `crash_loop_backoff`; only what restarting cannot heal is `failed`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::backoff::{Backoff, CrashWindow, BACKOFF_CAP, HEALTHY_RESET, MAX_CRASHES};
use super::context::Context;
use super::instance::{Instance, Ready, StartError};
use super::status::{manifest_summary, State};
use super::switch::Candidate;
use super::{Control, Member};
use crate::config::RestartPolicy;

/// How an instance's life ended.
enum Ended {
    /// The process exited by itself (or was killed from outside).
    Exited {
        status: std::process::ExitStatus,
        ready_for: Duration,
        /// How it ended, in words (an OOM kill is named as such).
        description: String,
    },
    /// The supervisor restarted it after failed probes or a broken lane.
    Unhealthy { reason: String, ready_for: Duration },
    /// It never became ready.
    StartFailed(StartError),
    /// An operator asked for a restart.
    RestartRequested,
    /// The supervisor is stopping it for good.
    StopRequested(Option<tokio::sync::oneshot::Sender<()>>),
}

/// What to do after an instance ended.
enum Next {
    Restart,
    /// Wait, then start again; `crash_loop` when the module is in a crash loop.
    Backoff {
        reason: String,
        crash_loop: bool,
    },
    Fail(String),
    Stop(String),
    Exit(Option<tokio::sync::oneshot::Sender<()>>),
}

/// Runs a module until a `Stop` command.
pub async fn run(module: Member, ctx: Arc<Context>, mut control: mpsc::UnboundedReceiver<Control>) {
    let mut backoff = Backoff::default();
    let mut crashes = CrashWindow::default();
    let mut in_crash_loop = false;
    let mut first = true;
    // Replaced instances still draining; a stop waits for them.
    let mut drains = tokio::task::JoinSet::new();
    loop {
        if !first {
            module.update(|s| s.restarts += 1);
            crate::metrics::global().module_restarted(&module.workspace, &module.name);
        }
        first = false;
        let ended = run_instance(&module, &ctx, &mut control, &mut drains).await;
        let next = decide(
            &module,
            ended,
            &mut backoff,
            &mut crashes,
            &mut in_crash_loop,
        );
        match next {
            Next::Restart => continue,
            Next::Exit(reply) => {
                while drains.join_next().await.is_some() {}
                module.update(|s| s.state = State::Stopped);
                if let Some(reply) = reply {
                    let _ = reply.send(());
                }
                return;
            }
            Next::Backoff { reason, crash_loop } => {
                let waited =
                    back_off(&module, &mut control, &mut backoff, reason, crash_loop).await;
                match waited {
                    Waited::Elapsed => {}
                    Waited::Restart => {
                        crashes.clear();
                        backoff.reset();
                        in_crash_loop = false;
                    }
                    Waited::Stop(reply) => {
                        while drains.join_next().await.is_some() {}
                        return finish(&module, reply);
                    }
                }
            }
            Next::Fail(reason) => {
                if let Some(reply) = park(
                    &module,
                    &mut control,
                    State::Failed,
                    reason,
                    &mut backoff,
                    &mut crashes,
                )
                .await
                {
                    {
                        while drains.join_next().await.is_some() {}
                        return finish(&module, reply);
                    }
                }
                in_crash_loop = false;
            }
            Next::Stop(reason) => {
                if let Some(reply) = park(
                    &module,
                    &mut control,
                    State::Stopped,
                    reason,
                    &mut backoff,
                    &mut crashes,
                )
                .await
                {
                    {
                        while drains.join_next().await.is_some() {}
                        return finish(&module, reply);
                    }
                }
                in_crash_loop = false;
            }
        }
    }
}

/// Waits before the next start in `backoff` (or `crash-loop`), with the reason and the time
/// of the next attempt in the status; returns what ended the wait.
async fn back_off(
    module: &Member,
    control: &mut mpsc::UnboundedReceiver<Control>,
    backoff: &mut Backoff,
    reason: String,
    crash_loop: bool,
) -> Waited {
    let loop_cap = module.spec().crash_loop_backoff;
    let cap = if crash_loop {
        loop_cap
    } else {
        BACKOFF_CAP.min(loop_cap)
    };
    let delay = backoff.next_delay(cap);
    let failed_at = now_ms();
    let next_attempt = failed_at + delay.as_millis() as u64;
    let (state, shown) = if crash_loop {
        let shown = format!(
            "crash loop (more than {MAX_CRASHES} crashes within 60 s; restarting at most every {}); last: {reason}",
            humantime::format_duration(loop_cap)
        );
        tracing::warn!(
            workspace = %module.workspace, module = %module.name,
            "{shown}; next attempt in {} ms", delay.as_millis()
        );
        (State::CrashLoop, shown)
    } else {
        (State::Backoff, reason)
    };
    module.event(format!("{shown}; restarting in {} ms", delay.as_millis()));
    module.update(|s| {
        s.state = state;
        s.last_error = Some(shown.clone());
        s.last_failure = Some(shown);
        s.last_failure_at_ms = Some(failed_at);
        s.next_attempt_ms = Some(next_attempt);
    });
    let waited = wait_or_command(module, control, Some(delay)).await;
    module.update(|s| s.next_attempt_ms = None);
    waited
}

/// Stays in `state` until an operator restarts the module (returns None) or it is stopped
/// (returns the stop reply).
async fn park(
    module: &Member,
    control: &mut mpsc::UnboundedReceiver<Control>,
    state: State,
    reason: String,
    backoff: &mut Backoff,
    crashes: &mut CrashWindow,
) -> Option<Option<tokio::sync::oneshot::Sender<()>>> {
    if state == State::Failed {
        tracing::error!(
            workspace = %module.workspace, module = %module.name,
            "module failed: {reason}; it stays down until restarted (`convotic-supervisor restart {}`)",
            module.name
        );
        let instance = module.status().instance.unwrap_or_default();
        module.logs.push(
            crate::process::Stream::Supervisor,
            &instance,
            format!("failed: {reason}"),
        );
    } else {
        module.event(reason.clone());
    }
    let failed = state == State::Failed;
    module.update(|s| {
        s.state = state;
        if failed {
            s.last_failure = Some(reason.clone());
            s.last_failure_at_ms = Some(now_ms());
        }
        s.last_error = Some(reason);
    });
    loop {
        match wait_or_command(module, control, None).await {
            Waited::Restart => {
                crashes.clear();
                backoff.reset();
                return None;
            }
            Waited::Elapsed => continue,
            Waited::Stop(reply) => return Some(reply),
        }
    }
}

fn finish(module: &Member, reply: Option<tokio::sync::oneshot::Sender<()>>) {
    module.update(|s| s.state = State::Stopped);
    if let Some(reply) = reply {
        let _ = reply.send(());
    }
}

/// Turns how an instance ended into what happens next, applying the restart policy.
fn decide(
    module: &Member,
    ended: Ended,
    backoff: &mut Backoff,
    crashes: &mut CrashWindow,
    in_crash_loop: &mut bool,
) -> Next {
    let policy = module.spec().restart;
    let (reason, ready_for, clean_exit) = match ended {
        Ended::StopRequested(reply) => return Next::Exit(reply),
        Ended::RestartRequested => {
            crashes.clear();
            backoff.reset();
            *in_crash_loop = false;
            return Next::Restart;
        }
        Ended::StartFailed(error) => {
            let reason = with_stderr(module, format!("start failed: {error}"));
            if error.is_permanent() {
                return Next::Fail(reason);
            }
            (reason, Duration::ZERO, false)
        }
        Ended::Exited {
            status,
            ready_for,
            description,
        } => {
            module.update(|s| s.last_exit = Some(description.clone()));
            let reason = with_stderr(module, format!("the module {description}"));
            if status.code() == Some(convotic_proto::EXIT_DO_NOT_RESTART) {
                return Next::Fail(reason);
            }
            (reason, ready_for, status.success())
        }
        Ended::Unhealthy { reason, ready_for } => (reason, ready_for, false),
    };
    match policy {
        RestartPolicy::Never => {
            return if clean_exit {
                Next::Stop(format!("{reason} (restart policy: never)"))
            } else {
                Next::Fail(format!("{reason} (restart policy: never)"))
            }
        }
        RestartPolicy::OnFailure if clean_exit => {
            return Next::Stop(format!("{reason} (restart policy: on-failure)"))
        }
        _ => {}
    }
    if ready_for >= HEALTHY_RESET {
        backoff.reset();
        *in_crash_loop = false;
    }
    let count = crashes.record(std::time::Instant::now());
    // Once in a crash loop, a module stays there (restarted at the crash-loop pace) until it
    // has been ready long enough to reset its backoff, or an operator restarts it.
    *in_crash_loop |= CrashWindow::is_crash_loop(count);
    Next::Backoff {
        reason,
        crash_loop: *in_crash_loop,
    }
}

/// Appends the last lines of stderr, which usually say why a module died.
fn with_stderr(module: &Member, reason: String) -> String {
    let tail = module.logs.tail_text(3, crate::process::Stream::Stderr);
    if tail.is_empty() {
        reason
    } else {
        format!("{reason}; last stderr: {}", tail.join(" | "))
    }
}

/// Starts one instance and watches it until it ends. While it is ready, a restart or a new
/// spec goes through the zero-downtime switch ([`super::switch`]): the candidate takes over
/// and this keeps watching it; replaced instances drain in `drains`.
async fn run_instance(
    module: &Member,
    ctx: &Context,
    control: &mut mpsc::UnboundedReceiver<Control>,
    drains: &mut tokio::task::JoinSet<()>,
) -> Ended {
    let spec = module.spec();
    module.update(|s| {
        s.state = State::Starting;
        s.pid = None;
        s.helper_pid = None;
        s.ready_since_ms = None;
    });
    if let Err(missing) = super::sandboxing::check_command(&spec) {
        return Ended::StartFailed(StartError::Spawn(missing));
    }
    let mut instance = match Instance::spawn(module, &spec, ctx).await {
        Ok(instance) => instance,
        Err(error) => return Ended::StartFailed(error),
    };
    module.update(|s| {
        s.instance = Some(instance.id.clone());
        s.helper_pid = Some(instance.helper_pid);
    });
    module.event(format!(
        "instance {} started (helper pid {})",
        instance.id, instance.helper_pid
    ));

    let handshake = tokio::select! {
        ready = instance.handshake(&spec) => ready,
        command = control.recv() => {
            let reply = match command {
                Some(Control::Stop(reply)) => Some(reply),
                Some(Control::Restart) | None => None,
                Some(Control::Replace(next, reply)) => {
                    module.set_spec(next);
                    let _ = reply.send(Ok("it was starting: started again with the new settings".into()));
                    None
                }
            };
            instance.stop(spec.stop_grace, "stopped while starting").await;
            return match reply {
                Some(reply) => Ended::StopRequested(Some(reply)),
                None => Ended::RestartRequested,
            };
        }
    };
    let mut ready = match handshake {
        Ok(ready) => ready,
        Err(error) => {
            instance.kill().await;
            return Ended::StartFailed(error);
        }
    };
    let mut ready_at = became_ready(module, &mut instance, &ready).await;
    loop {
        let ended = watch_ready(module, &mut instance, &ready, control).await;
        let (next, reply) = match ended {
            Watch::Command(Control::Restart) => (module.spec(), None),
            Watch::Command(Control::Replace(next, reply)) => (next, Some(reply)),
            other => {
                module.publish(None);
                return ended_by(module, &mut instance, other, ready_at.elapsed()).await;
            }
        };
        match super::switch::start_candidate(module, ctx, control, &mut instance, &next).await {
            Candidate::Ready(candidate, candidate_ready) => {
                module.set_spec(next);
                module.update(|s| s.restarts += 1);
                crate::metrics::global().module_restarted(&module.workspace, &module.name);
                let old = std::mem::replace(&mut instance, *candidate);
                ready = *candidate_ready;
                ready_at = became_ready(module, &mut instance, &ready).await;
                let how = format!(
                    "instance {} took over from {} (which now drains)",
                    instance.id, old.id
                );
                module.event(how.clone());
                if let Some(reply) = reply {
                    let _ = reply.send(Ok(how));
                }
                drains.spawn(super::switch::drain(module.clone(), old));
            }
            Candidate::Failed {
                reason,
                serving_exited,
            } => {
                module.event(format!("{reason}; instance {} keeps serving", instance.id));
                if let Some(reply) = reply {
                    let _ = reply.send(Err(reason));
                }
                if let Some(status) = serving_exited {
                    return ended_by(
                        module,
                        &mut instance,
                        Watch::Exited(status),
                        ready_at.elapsed(),
                    )
                    .await;
                }
            }
            Candidate::Stopped(stop) => {
                module.publish(None);
                if let Some(reply) = reply {
                    let _ = reply.send(Err("the module is being stopped".into()));
                }
                let stop = Control::Stop(stop.unwrap_or_else(|| oneshot::channel().0));
                return ended_by(
                    module,
                    &mut instance,
                    Watch::Command(stop),
                    ready_at.elapsed(),
                )
                .await;
            }
        }
    }
}

/// Publishes a ready instance and records it in the status; returns when it became ready.
async fn became_ready(module: &Member, instance: &mut Instance, ready: &Ready) -> Instant {
    let pid = instance.module_pid();
    // Read before taking the status lock: no I/O ever happens while it is held.
    let sandbox = instance.sandbox_report().await;
    let ready_at = Instant::now();
    module.publish(Some(super::Serving {
        instance: instance.id.clone(),
        work: ready.work.clone(),
        declared: Arc::new(super::Declared::new(ready.manifest.clone())),
    }));
    crate::metrics::global().module_started(&module.workspace, &module.name, ready.elapsed);
    module.update(|s| {
        s.state = State::Ready;
        s.instance = Some(instance.id.clone());
        s.helper_pid = Some(instance.helper_pid);
        s.pid = pid;
        s.ready_since_ms = Some(now_ms());
        s.start_ms = Some(ready.elapsed.as_secs_f64() * 1000.0);
        s.protocol_version = Some(ready.protocol_version);
        s.features = ready.features.clone();
        s.manifest = Some(manifest_summary(&ready.manifest));
        s.sandbox = sandbox;
        // Ready: what kept it down is history now (`last_failure` keeps it, with its time).
        // Cleared in the same update, so nobody sees a ready module with a current error.
        s.last_error = None;
        s.next_attempt_ms = None;
    });
    module.event(format!(
        "instance {} ready in {:.1} ms (pid {}, {} v{}, protocol v{})",
        instance.id,
        ready.elapsed.as_secs_f64() * 1000.0,
        pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into()),
        ready.manifest.name,
        ready.manifest.version,
        ready.protocol_version
    ));
    ready_at
}

/// Ends a ready instance's life the way `ended` says.
async fn ended_by(
    module: &Member,
    instance: &mut Instance,
    ended: Watch,
    ready_for: Duration,
) -> Ended {
    let spec = module.spec();
    match ended {
        Watch::Exited(status) => {
            if instance.oom_killed() {
                crate::metrics::global().module_oom_killed(&module.workspace, &module.name);
            }
            Ended::Exited {
                status,
                ready_for,
                description: instance.describe_end(status),
            }
        }
        Watch::OverMemory(reason) => {
            crate::metrics::global().module_oom_killed(&module.workspace, &module.name);
            instance.kill().await;
            module.update(|s| s.last_exit = Some(reason.clone()));
            module.event(format!("instance {} {reason}", instance.id));
            Ended::Unhealthy {
                reason: format!("the module {reason}"),
                ready_for,
            }
        }
        Watch::Unhealthy(reason) => {
            module.update(|s| s.state = State::Draining);
            let how = instance.stop(spec.stop_grace, &reason).await;
            module.event(format!("instance {} {how}", instance.id));
            Ended::Unhealthy { reason, ready_for }
        }
        Watch::Command(command) => {
            module.update(|s| s.state = State::Draining);
            let (why, reply, restart) = match command {
                Control::Stop(reply) => ("supervisor stopping", Some(reply), false),
                Control::Restart | Control::Replace(..) => ("restart requested", None, true),
            };
            let how = instance.stop(spec.stop_grace, why).await;
            module.event(format!("instance {} {how} ({why})", instance.id));
            if restart {
                Ended::RestartRequested
            } else {
                Ended::StopRequested(reply)
            }
        }
    }
}

enum Watch {
    Exited(std::process::ExitStatus),
    Unhealthy(String),
    /// Its tree's resident memory passed a limit no cgroup enforces.
    OverMemory(String),
    Command(Control),
}

/// How often a memory limit without a memory cgroup is checked.
const MEMORY_POLL: Duration = Duration::from_secs(1);

/// Watches a ready instance: exit, periodic health probes, memory (when no cgroup limits it),
/// broken lanes, commands.
async fn watch_ready(
    module: &Member,
    instance: &mut Instance,
    ready: &super::instance::Ready,
    control: &mut mpsc::UnboundedReceiver<Control>,
) -> Watch {
    let spec = module.spec();
    let mut probes =
        tokio::time::interval_at(Instant::now() + spec.health_interval, spec.health_interval);
    probes.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failures = 0u32;
    let mut broken = ready.work.broken();
    let memory_limit = instance.polled_memory_limit();
    let mut memory_polls = tokio::time::interval(MEMORY_POLL);
    memory_polls.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            status = instance.wait() => return Watch::Exited(status),
            _ = memory_polls.tick(), if memory_limit.is_some() => {
                let limit = memory_limit.unwrap_or(u64::MAX);
                let rss = instance.tree_rss();
                if rss > limit {
                    return Watch::OverMemory(format!(
                        "was killed: out of memory (resident {} MiB over the limit of {} MiB, polled: no memory cgroup)",
                        rss >> 20,
                        limit >> 20
                    ));
                }
            }
            command = control.recv() => {
                // A closed control channel means the supervisor is gone: stop.
                let command = command.unwrap_or(Control::Stop(tokio::sync::oneshot::channel().0));
                return Watch::Command(command);
            }
            _ = probes.tick() => {
                match instance.probe(spec.health_timeout).await {
                    Ok(()) => failures = 0,
                    Err(reason) => {
                        failures += 1;
                        module.event(format!("health probe {failures}/{} failed: {reason}", spec.health_failures));
                        if failures >= spec.health_failures {
                            return Watch::Unhealthy(format!("{failures} consecutive health probes failed (last: {reason})"));
                        }
                    }
                }
            }
            changed = broken.changed() => {
                if changed.is_err() {
                    continue;
                }
                let reason = broken.borrow().clone().unwrap_or_default();
                // The process is probably exiting; give it a moment so its exit status is seen.
                if let Ok(status) = tokio::time::timeout(Duration::from_millis(500), instance.wait()).await {
                    return Watch::Exited(status);
                }
                return Watch::Unhealthy(format!("work stream broke: {reason}"));
            }
        }
    }
}

enum Waited {
    Elapsed,
    Restart,
    Stop(Option<tokio::sync::oneshot::Sender<()>>),
}

/// Sleeps for `delay` (forever if None) unless a command comes first. A new spec, while no
/// instance runs, is taken at once and starts the module again.
async fn wait_or_command(
    module: &Member,
    control: &mut mpsc::UnboundedReceiver<Control>,
    delay: Option<Duration>,
) -> Waited {
    let sleep = async {
        match delay {
            Some(delay) => tokio::time::sleep(delay).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = sleep => Waited::Elapsed,
        command = control.recv() => match command {
            Some(Control::Restart) => Waited::Restart,
            Some(Control::Replace(next, reply)) => {
                module.set_spec(next);
                let _ = reply.send(Ok("it was not running: started again with the new settings".into()));
                Waited::Restart
            }
            Some(Control::Stop(reply)) => Waited::Stop(Some(reply)),
            None => Waited::Stop(None),
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
