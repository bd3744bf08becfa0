//! Process-wide set-up of `run`: a panic hook that logs one line instead of a backtrace per
//! panic, and the open-file limit raised to what the host allows.

/// Replaces the default panic output with one error line (where, what, which thread). The
/// backtrace is still printed when `RUST_BACKTRACE` is set.
pub fn install_panic_hook() {
    let with_backtrace = std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0");
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let thread = std::thread::current();
        let thread = thread.name().unwrap_or("unnamed");
        tracing::error!(thread, location, "panic: {message}");
        if with_backtrace {
            eprintln!("{}", std::backtrace::Backtrace::force_capture());
        }
    }));
}

/// Raises the soft RLIMIT_NOFILE to the hard limit, so client connections do not run out of
/// file descriptors at the common default of 1024 (modules get the starting limit back, see
/// `process::spawner`); returns the new soft limit.
pub fn raise_open_file_limit() -> Option<u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft >= hard {
        return Some(soft);
    }
    match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
        Ok(()) => {
            crate::process::spawner::remember_starting_open_file_limit(soft);
            tracing::debug!(from = soft, to = hard, "open-file limit raised");
            Some(hard)
        }
        Err(e) => {
            tracing::warn!("cannot raise the open-file limit from {soft} to {hard}: {e}");
            Some(soft)
        }
    }
}
