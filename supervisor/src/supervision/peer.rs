//! Who may answer on an instance's plugin socket: a process of that instance (the spawn
//! helper or one of its descendants) running as the module's own host uid when its sandbox
//! gives it one. Anything else (another instance's module, a host daemon's socket linked or
//! bound into place) is refused, naming what answered.

use std::sync::Arc;

use crate::process::tree;
use crate::protocol::{PeerCheck, PeerCredentials};

/// The check for an instance whose spawn helper is `helper_pid`; `uid` is the module's host
/// uid when the sandbox maps one (`None` for profile `none`, which runs as the supervisor's
/// user).
pub fn instance_peer(helper_pid: i32, uid: Option<u32>) -> PeerCheck {
    Arc::new(move |peer| check(peer, helper_pid, uid))
}

fn check(peer: PeerCredentials, helper_pid: i32, uid: Option<u32>) -> Result<(), String> {
    let Some(pid) = peer.pid.filter(|p| *p > 0) else {
        return Err(format!(
            "the listener's pid is unknown (uid {}); only a process of this instance may serve it",
            peer.uid
        ));
    };
    let describe = || {
        let name = tree::command_name(pid)
            .map(|n| crate::protocol::connect::printable(&n))
            .unwrap_or_else(|| "?".into());
        format!("pid {pid} (uid {}, gid {}, `{name}`)", peer.uid, peer.gid)
    };
    if helper_pid <= 0 || !tree::is_within_tree(pid, helper_pid) {
        return Err(format!(
            "it is served by {}, which is not a process of this instance (spawn helper pid {helper_pid})",
            describe()
        ));
    }
    if let Some(expected) = uid {
        if peer.uid != expected {
            return Err(format!(
                "it is served by {}, not by the module's uid {expected}",
                describe()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(pid: i32, uid: u32) -> PeerCredentials {
        PeerCredentials {
            pid: Some(pid),
            uid,
            gid: uid,
        }
    }

    #[test]
    fn only_the_instance_tree_with_its_uid_passes() {
        let me = std::process::id() as i32;
        let uid = nix::unistd::geteuid().as_raw();
        let parent = nix::unistd::getppid().as_raw();
        assert!(check(peer(me, uid), me, Some(uid)).is_ok());
        assert!(check(peer(me, uid), parent, None).is_ok());
        let stranger = check(peer(parent, uid), me, None).unwrap_err();
        assert!(
            stranger.contains("not a process of this instance"),
            "{stranger}"
        );
        assert!(stranger.contains(&format!("pid {parent}")), "{stranger}");
        let wrong_uid = check(peer(me, uid), me, Some(uid + 1)).unwrap_err();
        assert!(wrong_uid.contains("not by the module's uid"), "{wrong_uid}");
        let unknown = PeerCredentials {
            pid: None,
            uid,
            gid: uid,
        };
        assert!(check(unknown, me, None).is_err());
    }
}
