//! Pre-flight checks before a service starts: its deployment's prerequisites (asked of the
//! mode's plugin), conflicts (a conflicting managed service active, or a process of that name
//! on the machine) and dependencies (available, or running when dependencies are not started
//! automatically).

pub use keel_api::{CheckKind, Preflight, PreflightCheck};

/// The conflicts check: `active` are the conflicting managed services that run; for the names
/// that are not managed services, processes of that name on the machine count too.
pub fn conflicts(active: Vec<String>, unmanaged: &[&str]) -> PreflightCheck {
    let mut found = active;
    for name in unmanaged {
        if let Some(pid) = process_named(name) {
            found.push(format!("{name} (pid {pid}, not managed by keel)"));
        }
    }
    if found.is_empty() {
        PreflightCheck {
            kind: CheckKind::Conflicts,
            ok: true,
            message: "No conflicts detected".into(),
        }
    } else {
        PreflightCheck {
            kind: CheckKind::Conflicts,
            ok: false,
            message: format!("Conflicting services running: {}", found.join(", ")),
        }
    }
}

/// A process on the machine whose command name (or the file name of its program) is `name`.
fn process_named(name: &str) -> Option<i32> {
    // The kernel keeps 15 bytes of a command name.
    let comm_name: String = name.chars().take(15).collect();
    let me = std::process::id() as i32;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let dir = entry.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim_end() == comm_name {
            return Some(pid);
        }
        let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
        let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
        let base = argv0.rsplit(|b| *b == b'/').next().unwrap_or_default();
        if !base.is_empty() && base == name.as_bytes() {
            return Some(pid);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_of_the_conflicting_name_is_found() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        // Until the child has exec'd, /proc shows it under this test's name.
        let comm = format!("/proc/{}/comm", child.id());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::fs::read_to_string(&comm)
            .unwrap_or_default()
            .trim_end()
            != "sleep"
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let c = conflicts(Vec::new(), &["sleep"]);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!c.ok);
        assert!(
            c.message
                .starts_with("Conflicting services running: sleep (pid "),
            "{c:?}"
        );
        let c = conflicts(Vec::new(), &["no-such-program-keel"]);
        assert!(c.ok, "{c:?}");
        let c = conflicts(vec!["db".into()], &[]);
        assert_eq!(c.message, "Conflicting services running: db");
    }
}
