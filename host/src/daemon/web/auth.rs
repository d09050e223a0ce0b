//! Who may use the status page: sessions (a random id in an HttpOnly cookie), the CSRF token
//! every state-changing request carries, and the Host check that keeps another site's page
//! from reaching a loopback listener by DNS rebinding. The checks are pure functions, tested
//! here; `mod.rs` applies them to each request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ring::rand::{SecureRandom, SystemRandom};

/// The header that carries the CSRF token on every request that changes something.
pub const CSRF_HEADER: &str = "x-keel-csrf";

/// A session ends this long after the login (or, on loopback, the page load) that made it.
const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// Sessions kept at once; the oldest goes first. Without a bound, a loop loading the page on
/// loopback would grow the daemon without end.
const MAX_SESSIONS: usize = 256;

/// One signed-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    /// What the page sends back in [`CSRF_HEADER`]: another site can make the browser send
    /// the cookie, but cannot read the page to learn this.
    pub csrf: String,
    created: Instant,
}

/// The sessions of one status page listener, in memory: a daemon restart signs everyone out.
pub struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
    random: SystemRandom,
}

impl Default for Sessions {
    fn default() -> Self {
        Self {
            by_id: Mutex::new(HashMap::new()),
            random: SystemRandom::new(),
        }
    }
}

impl Sessions {
    pub fn create(&self) -> Session {
        let session = Session {
            id: self.token(),
            csrf: self.token(),
            created: Instant::now(),
        };
        let mut map = self.by_id.lock().expect("sessions lock");
        map.retain(|_, s| s.created.elapsed() < SESSION_LIFETIME);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map.values().min_by_key(|s| s.created).map(|s| s.id.clone())
        {
            map.remove(&oldest);
        }
        map.insert(session.id.clone(), session.clone());
        session
    }

    /// The live session of this id.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut map = self.by_id.lock().expect("sessions lock");
        match map.get(id) {
            Some(s) if s.created.elapsed() < SESSION_LIFETIME => Some(s.clone()),
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    pub fn remove(&self, id: &str) {
        self.by_id.lock().expect("sessions lock").remove(id);
    }

    /// 256 random bits, in hex.
    fn token(&self) -> String {
        let mut bytes = [0u8; 32];
        self.random
            .fill(&mut bytes)
            .expect("the system's random source");
        hex::encode(bytes)
    }
}

/// The session cookie's name. Cookies are shared by every port of a host, so the port is in
/// the name: two daemons' pages on one machine do not sign each other out.
pub fn cookie_name(port: u16) -> String {
    format!("keel_session_{port}")
}

/// The `Set-Cookie` value of a new session: HttpOnly (the page's script never sees it),
/// SameSite=Strict (another site's request does not carry it), Secure over TLS.
pub fn set_cookie(name: &str, id: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={id}; Path=/; HttpOnly; SameSite=Strict{secure}")
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(name: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
}

/// The value of cookie `name` in a `Cookie` header (`a=1; b=2`).
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// Whether the header's CSRF token is the session's.
pub fn csrf_matches(session: &Session, header: Option<&[u8]>) -> bool {
    header.is_some_and(|given| super::super::api::constant_time_eq(given, session.csrf.as_bytes()))
}

/// Whether a `Host` header names this machine's loopback: `localhost`, `127.x.y.z` or `[::1]`,
/// with or without a port. A page of another site that rebinds its name to 127.0.0.1 still
/// sends its own name, and is refused.
pub fn host_is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        // [::1]:8080
        Some(rest) => rest.split_once(']').map_or(rest, |(ip, _)| ip),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_their_exact_name() {
        let header = "theme=dark; keel_session_8080=abc; keel_session_80=other";
        assert_eq!(cookie_value(header, "keel_session_8080"), Some("abc"));
        assert_eq!(cookie_value(header, "keel_session_80"), Some("other"));
        assert_eq!(cookie_value(header, "keel_session"), None);
        assert_eq!(cookie_value("", "keel_session_80"), None);
        assert_eq!(cookie_value("garbage", "garbage"), None);
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_over_tls() {
        let c = set_cookie("keel_session_1", "id", true);
        assert_eq!(
            c,
            "keel_session_1=id; Path=/; HttpOnly; SameSite=Strict; Secure"
        );
        assert!(!set_cookie("n", "id", false).contains("Secure"));
        assert!(clear_cookie("n", false).contains("Max-Age=0"));
    }

    #[test]
    fn a_session_is_found_by_its_id_and_its_csrf_token_is_checked() {
        let sessions = Sessions::default();
        let s = sessions.create();
        assert_eq!(s.id.len(), 64);
        assert_ne!(s.id, s.csrf);
        let found = sessions.get(&s.id).expect("the session");
        assert!(csrf_matches(&found, Some(s.csrf.as_bytes())));
        assert!(!csrf_matches(&found, Some(s.id.as_bytes())));
        assert!(!csrf_matches(&found, Some(b"")));
        assert!(!csrf_matches(&found, None));
        assert!(sessions.get("not-a-session").is_none());
        sessions.remove(&s.id);
        assert!(sessions.get(&s.id).is_none());
    }

    #[test]
    fn sessions_are_bounded_and_the_oldest_goes_first() {
        let sessions = Sessions::default();
        let first = sessions.create();
        for _ in 0..MAX_SESSIONS {
            sessions.create();
        }
        assert!(sessions.get(&first.id).is_none());
        assert_eq!(sessions.by_id.lock().unwrap().len(), MAX_SESSIONS);
    }

    #[test]
    fn only_loopback_host_names_pass() {
        for ok in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "127.1.2.3:1",
            "localhost:80",
            "LOCALHOST",
            "[::1]:8080",
            "[::1]",
        ] {
            assert!(host_is_loopback(ok), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "10.0.0.1:80",
            "localhost.evil.example",
            "[::2]:80",
            "",
        ] {
            assert!(!host_is_loopback(bad), "{bad}");
        }
    }
}
