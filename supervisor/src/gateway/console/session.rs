//! Console sessions: the admin token (or a workspace API key, read-only) exchanged at the login
//! page for a random session id held in an `HttpOnly`, `SameSite=Strict` cookie, with a CSRF
//! token every state-changing request must carry. Sessions live in memory (a restart signs
//! everyone out), expire, and are bounded in number (the oldest goes first).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::RngCore as _;

/// The session cookie's name.
pub const COOKIE: &str = "convotic_console";
/// Most sessions kept at once.
const MOST_SESSIONS: usize = 4096;
/// Most sessions of one workspace key's workspace (a key holder cannot crowd out the others).
const MOST_PER_WORKSPACE: usize = 64;

/// What a session may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Signed in with the admin token: every workspace, every action.
    Admin,
    /// Signed in with an API key: that workspace only, read-only.
    Workspace(String),
}

impl Role {
    /// Whether this role may see `workspace`.
    pub fn sees(&self, workspace: &str) -> bool {
        match self {
            Role::Admin => true,
            Role::Workspace(own) => own == workspace,
        }
    }

    /// Whether this role may change things.
    pub fn may_act(&self) -> bool {
        matches!(self, Role::Admin)
    }
}

/// One signed-in browser.
#[derive(Clone)]
pub struct Session {
    /// The token a state-changing request must carry (form field `csrf` or `X-CSRF-Token`).
    pub csrf: String,
    /// What it may do.
    pub role: Role,
    /// The API key a workspace session signed in with, checked again at every request so a
    /// revoked key ends its sessions (never shown, never logged).
    pub key: Option<String>,
    /// When it ends.
    expires: Instant,
    created: Instant,
}

/// The sessions of one supervisor.
pub struct Sessions {
    inner: Mutex<HashMap<String, Session>>,
    lifetime: Duration,
}

/// 32 random bytes, hex.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl Sessions {
    /// Sessions that last `lifetime` after login.
    pub fn new(lifetime: Duration) -> Self {
        Self {
            inner: Mutex::new(HashMap::new()),
            lifetime,
        }
    }

    /// How long a session lasts.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Opens a session for `role` (with the API key a workspace session signed in with);
    /// returns its id (the cookie's value) and the session. When full, the oldest session of
    /// the same workspace goes first (a workspace key never evicts an admin session).
    pub fn open(&self, role: Role, key: Option<String>) -> (String, Session) {
        let now = Instant::now();
        let session = Session {
            csrf: random_token(),
            role,
            key,
            expires: now + self.lifetime,
            created: now,
        };
        let id = random_token();
        let mut sessions = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        sessions.retain(|_, s| s.expires > now);
        let same_role = sessions.values().filter(|s| s.role == session.role).count();
        let full = match session.role {
            Role::Workspace(_) => {
                same_role >= MOST_PER_WORKSPACE || sessions.len() >= MOST_SESSIONS
            }
            Role::Admin => sessions.len() >= MOST_SESSIONS,
        };
        if full {
            let evict = |sessions: &HashMap<String, Session>, admins: bool| {
                sessions
                    .iter()
                    .filter(|(_, s)| match &session.role {
                        Role::Workspace(_) => s.role == session.role,
                        Role::Admin => (s.role == Role::Admin) == admins,
                    })
                    .min_by_key(|(_, s)| s.created)
                    .map(|(id, _)| id.clone())
            };
            // An admin login makes room by ending the oldest workspace session first.
            let oldest = evict(&sessions, false).or_else(|| evict(&sessions, true));
            if let Some(oldest) = oldest {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(id.clone(), session.clone());
        (id, session)
    }

    /// The live session with id `id`.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut sessions = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match sessions.get(id) {
            Some(session) if session.expires > Instant::now() => Some(session.clone()),
            Some(_) => {
                sessions.remove(id);
                None
            }
            None => None,
        }
    }

    /// Ends session `id`.
    pub fn close(&self, id: &str) {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }
}

/// Whether `given` is the session's CSRF token (constant time).
pub fn csrf_matches(session: &Session, given: &str) -> bool {
    crate::host::constant_time_eq(session.csrf.as_bytes(), given.as_bytes())
}

/// The session id in a `Cookie` header, if any.
pub fn cookie_value(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_open_expire_and_close() {
        let sessions = Sessions::new(Duration::from_millis(50));
        let (id, session) = sessions.open(Role::Admin, None);
        assert_eq!(id.len(), 64);
        assert_eq!(sessions.get(&id).unwrap().csrf, session.csrf);
        assert!(csrf_matches(&session, &session.csrf));
        assert!(!csrf_matches(&session, "nope"));
        sessions.close(&id);
        assert!(sessions.get(&id).is_none());
        let (id, _) = sessions.open(Role::Workspace("ws_a".into()), Some("key".into()));
        std::thread::sleep(Duration::from_millis(60));
        assert!(sessions.get(&id).is_none(), "expired");
    }

    #[test]
    fn a_workspace_key_cannot_crowd_out_admin_sessions() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let (admin, _) = sessions.open(Role::Admin, None);
        let mut first = None;
        for _ in 0..MOST_PER_WORKSPACE + 10 {
            let (id, _) = sessions.open(Role::Workspace("ws_a".into()), Some("k".into()));
            first.get_or_insert(id);
        }
        assert!(sessions.get(&admin).is_some(), "the admin stays signed in");
        assert!(
            sessions.get(&first.unwrap()).is_none(),
            "the oldest key session went"
        );
        let count = sessions.inner.lock().unwrap().len();
        assert_eq!(count, MOST_PER_WORKSPACE + 1);
    }

    #[test]
    fn roles_and_cookies() {
        let ws = Role::Workspace("ws_a".into());
        assert!(ws.sees("ws_a") && !ws.sees("ws_b") && !ws.may_act());
        assert!(Role::Admin.sees("ws_b") && Role::Admin.may_act());
        assert_eq!(cookie_value("a=1; convotic_console=abc; b=2"), Some("abc"));
        assert_eq!(cookie_value("convotic_console="), None);
        assert_eq!(cookie_value("other=1"), None);
    }
}
