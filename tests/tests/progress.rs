//! What a start shows while it waits: live lines on a terminal (a real pseudo-terminal from
//! util-linux's `script`), nothing but the final line with `--quiet`. (The plain lines that
//! scripts and logs get are asserted by the lifecycle tests.)

use std::process::Command;

use keel_e2e::{Platform, keel_bin};

/// `base` becomes healthy about a second after it starts (its file check finds the file it
/// makes); `top`, without a check, starts after it.
const CONFIG: &str = r#"
[services.base]
[services.base.deployment]
mode = "binary"
[services.base.deployment.binary]
binary_path = "/bin/sh"
args = ["-c", "sleep 1; touch ready; exec sleep 300"]
[services.base.health_check]
type = "file"
interval = 1
[services.base.health_check.file]
path = "ready"

[services.top]
dependencies = ["base"]
[services.top.deployment]
mode = "binary"
[services.top.deployment.binary]
binary_path = "/bin/sh"
args = ["-c", "exec sleep 300"]
"#;

const TICKS: &str = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏";

/// Runs `keel --config … --state-dir … ARGS` on a pseudo-terminal; what the terminal got.
fn on_a_terminal(p: &Platform, args: &str, no_color: bool) -> String {
    if Command::new("script").arg("--version").output().is_err() {
        panic!("`script` (util-linux) is needed for this test");
    }
    let cmd = format!(
        "{} --config {} --state-dir {} {args}",
        keel_bin().display(),
        p.config.display(),
        p.state.display()
    );
    let mut c = Command::new("script");
    c.args(["-qec", &cmd, "/dev/null"])
        .current_dir(p.dir.path())
        .env_remove("NO_COLOR")
        .env("TERM", "xterm")
        .env("KEEL_CACHE_DIR", keel_e2e::shared_cache());
    if no_color {
        c.env("NO_COLOR", "1");
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What the terminal shows once the redrawing is over: the text after the last cursor
/// movement that rewrote the lines, without escapes.
fn final_screen(raw: &str) -> String {
    let last = raw.rfind("\u{1b}[1A").map_or(raw, |i| &raw[i..]);
    // Control sequences are ESC [ parameters, then one final byte from @ to ~.
    let mut out = String::new();
    let mut chars = last.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for f in chars.by_ref() {
                    if ('@'..='~').contains(&f) {
                        break;
                    }
                }
            }
        } else if c != '\r' {
            out.push(c);
        }
    }
    out
}

#[test]
fn a_start_on_a_terminal_shows_a_live_line_per_service_ending_in_its_state() {
    let p = Platform::new(CONFIG);
    // Start the daemon first, so the lines time the services rather than the daemon's start.
    let r = p.keel(&["services", "readiness"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);

    let raw = on_a_terminal(&p, "platform start", true);
    // Spinners were drawn and redrawn (cursor moves), with the service's state and its time.
    let spun: Vec<char> = raw.chars().filter(|c| TICKS.contains(*c)).collect();
    assert!(spun.len() >= 3, "no spinner frames in {raw:?}");
    assert!(raw.contains("\u{1b}[1A"), "no redrawing in {raw:?}");
    assert!(
        raw.contains("base  started with PID") && raw.contains("waiting to become healthy (0."),
        "{raw:?}"
    );
    // NO_COLOR: cursor movements only, no colour.
    assert!(
        !raw.contains("\u{1b}[3"),
        "colour despite NO_COLOR: {raw:?}"
    );
    // Not the plain lines.
    assert!(
        !raw.contains("Waiting for base to become healthy..."),
        "{raw:?}"
    );

    // The terminal wraps the padded lines itself: each line starts with its mark.
    let screen = final_screen(&raw);
    let lines: Vec<&str> = screen
        .split("✅ ")
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), 3, "{screen:?}");
    assert!(lines[0].starts_with("base  healthy, PID "), "{screen:?}");
    assert!(lines[0].ends_with("s)"), "{screen:?}");
    assert!(lines[1].starts_with("top   running, PID "), "{screen:?}");
    assert_eq!(lines[2], "Platform started: 2 services ready");
    assert_eq!(p.status("base")["status"], "running");

    // Colour on a terminal when NO_COLOR is not set, as everywhere else.
    let r = p.keel(&["platform", "stop"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    std::fs::remove_file(p.dir.path().join("ready")).unwrap();
    let raw = on_a_terminal(&p, "platform start", false);
    assert!(raw.contains("\u{1b}[32m"), "no colour: {raw:?}");
}

#[test]
fn quiet_prints_only_the_final_line() {
    let p = Platform::new(CONFIG);
    let r = p.keel(&["platform", "start", "--quiet"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout, "✅ Platform started: 2 services ready\n");

    let r = p.keel(&["services", "stop", "top"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = p.keel(&["services", "start", "top", "-q"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let pid = p.status("top")["pid"].as_i64().unwrap();
    assert_eq!(r.stdout, format!("✅ Started top with PID {pid}\n"));

    // On a terminal too: no live lines.
    let r = p.keel(&["platform", "stop"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    std::fs::remove_file(p.dir.path().join("ready")).unwrap();
    let raw = on_a_terminal(&p, "platform start --quiet", true);
    assert_eq!(
        raw.replace('\r', ""),
        "✅ Platform started: 2 services ready\n"
    );

    // Errors still show: an unknown service.
    let r = p.keel(&["platform", "start", "--quiet", "nope"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("unknown service `nope`"), "{}", r.stderr);
}
