//! `keel top` used as a person would: tmux runs it in an 80×24 terminal, `send-keys` types,
//! `capture-pane` reads the screen. A service killed from outside is seen going down and
//! coming back; a stop from the keyboard stops it, and asks first when dependents run.

use keel_e2e::free_port;
use std::process::Command;
use std::time::{Duration, Instant};

use keel_e2e::{Platform, keel_bin, shared_cache, tcp_listener_service as listener};

/// A tmux server of the test's own, running `keel top` for `p` in an 80×24 window.
struct Screen {
    socket: String,
}

impl Screen {
    fn open(p: &Platform) -> Option<Self> {
        if Command::new("tmux").arg("-V").output().is_err() {
            assert!(
                std::env::var_os("KEEL_REQUIRE_TMUX").is_none(),
                "tmux is required here"
            );
            eprintln!("tmux is not installed: skipped");
            return None;
        }
        let socket = format!("keel-top-{}", std::process::id());
        let command = format!(
            "env NO_COLOR=1 KEEL_CACHE_DIR={} {} --config {} --state-dir {} top",
            shared_cache().display(),
            keel_bin().display(),
            p.config.display(),
            p.state.display()
        );
        let ok = Command::new("tmux")
            .args(["-L", &socket, "new-session", "-d", "-x", "80", "-y", "24"])
            .arg(command)
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux new-session");
        Some(Self { socket })
    }

    fn text(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        Command::new("tmux")
            .args(["-L", &self.socket, "send-keys"])
            .args(keys)
            .status()
            .unwrap();
    }

    /// The screen once `f` holds for it (at most 15 s).
    fn wait(&self, what: &str, f: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let text = self.text();
            if f(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "waiting for {what}; screen:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

/// The screen line of a service's row.
fn row<'a>(screen: &'a str, name: &str) -> &'a str {
    screen
        .lines()
        .find(|l| {
            l.trim_start_matches("> ")
                .trim_start()
                .starts_with(&format!("{name} "))
        })
        .unwrap_or("")
}

#[test]
fn a_killed_service_goes_down_and_comes_back_and_the_keyboard_stops_services() {
    let (a, b) = (free_port(), free_port());
    let config = [
        listener("db", a, 1.0, "category = \"data\""),
        listener(
            "api",
            b,
            0.0,
            "category = \"core\"\ndependencies = [\"db\"]",
        ),
    ]
    .concat();
    let p = Platform::new(&config);
    let r = p.keel(&["platform", "start"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let Some(screen) = Screen::open(&p) else {
        return;
    };
    let first = screen.wait("both services healthy", |s| {
        row(s, "db").contains("healthy") && row(s, "api").contains("healthy")
    });
    assert!(
        first.contains("[data]") && first.contains("[core]"),
        "{first}"
    );
    assert!(first.lines().all(|l| l.chars().count() <= 80));
    // The log pane follows the selected service (the first one).
    screen.wait("db's log", |s| {
        s.contains("log: db") && s.contains("listening")
    });

    // Killed from outside: it goes down (restarting, or starting again until it listens,
    // which takes it a second), then comes back healthy, without a key pressed.
    let pid = p.status("db")["pid"].as_i64().unwrap();
    Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    screen.wait("db down", |s| {
        let r = row(s, "db");
        !r.contains("healthy") || r.contains("unhealthy")
    });
    let back = screen.wait("db healthy again", |s| {
        let r = row(s, "db");
        r.contains("running") && r.contains("healthy") && !r.contains("unhealthy")
    });
    assert!(row(&back, "db").contains(" 1 "), "one restart: {back}");

    // Stopping db from the keyboard asks first: api depends on it. `n` leaves it running.
    screen.keys(&["x"]);
    screen.wait("the question", |s| s.contains("dependents running (api)"));
    screen.keys(&["n"]);
    screen.wait("left running", |s| s.contains("db left running"));
    assert_eq!(p.status("db")["status"], "running");

    // api has no dependents: selected with the arrow key, stopped with `x`.
    screen.keys(&["Down"]);
    screen.wait("api selected", |s| s.contains("log: api"));
    screen.keys(&["x"]);
    screen.wait("api stopped", |s| row(s, "api").contains("stopped"));
    assert_eq!(p.status("api")["status"], "stopped");
    assert_eq!(p.status("db")["status"], "running");

    // `q` quits and gives the terminal back.
    screen.keys(&["q"]);
    screen.wait("the shell's screen", |s| !s.contains("keel top:"));
}
