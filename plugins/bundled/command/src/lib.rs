//! The bundled `command` health check:
//!
//! ```toml
//! [services.custom.health_check.command]
//! command = "systemctl is-active myservice"   # or ["systemctl", "is-active", "myservice"]
//! expected_exit_code = 0                       # optional, the default
//! ```
//!
//! Healthy when the command exits with `expected_exit_code` within the check's `timeout` (the
//! `[health_check]` table's, default 5 s); it is killed when the time is up. A string is split
//! into words as a shell would (quotes and backslashes), but no shell runs it: write
//! `["sh", "-c", "…"]` for pipes or variables. The registry README's `health_check = "cmd:…"`
//! means the same.
//!
//! The program runs through the host's `run-command`, with the service's config dir as working
//! directory and only `PATH` in its environment. `needs` asks for exactly the program as written
//! (a bare name is looked up on the daemon's PATH; `./check.sh` is relative to the config dir),
//! so the plugin can run that program and no other.

use keel_plugin_sdk::host::HostError;
use keel_plugin_sdk::types::{Capability, ServiceInfo};
use keel_plugin_sdk::{HealthCheck, Reader, Settings, host_error_text};

struct Command {
    command: Vec<String>,
    expected_exit_code: i32,
}

impl Settings for Command {
    fn read(r: &mut Reader) -> Command {
        if !r.has("command") {
            r.problem(
                "",
                "missing required setting \"command\": expected a command (a string or an array \
                 of strings)",
            );
        }
        let command = r.command_line("command").unwrap_or_default();
        let expected_exit_code = r.integer("expected_exit_code", 0, 255).unwrap_or(0) as i32;
        Command {
            command,
            expected_exit_code,
        }
    }

    fn needs(&self) -> Vec<Capability> {
        vec![Capability::Command(self.command[0].clone())]
    }
}

impl Command {
    /// The command as a user would type it: words with blanks or quotes in single quotes.
    fn shown(&self) -> String {
        let word = |w: &String| {
            if !w.is_empty()
                && !w.contains(|c: char| c.is_whitespace() || "'\"\\$`;&|<>(){}*?".contains(c))
            {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', "'\\''"))
            }
        };
        self.command.iter().map(word).collect::<Vec<_>>().join(" ")
    }
}

/// At most this much of the command's output goes into the check's message.
const SHOWN_OUTPUT: usize = 200;

fn excerpt(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    match line.char_indices().nth(SHOWN_OUTPUT) {
        Some((cut, _)) => format!("{}...", &line[..cut]),
        None => line.to_string(),
    }
}

impl HealthCheck for Command {
    const NAME: &'static str = "command";
    const DESCRIPTION: &'static str = "Healthy when a command exits with the expected code";

    fn check(&self, _service: &ServiceInfo, timeout_ms: u32) -> Result<String, String> {
        let config = self;
        let shown = config.shown();
        let args: Vec<&str> = config.command[1..].iter().map(String::as_str).collect();
        let ran = match keel_plugin_sdk::run(&config.command[0], &args, timeout_ms) {
            Ok(ran) => ran,
            Err(HostError::TimedOut) => {
                return Err(format!(
                    "`{shown}` did not finish within {timeout_ms} ms (killed)"
                ));
            }
            Err(e) => {
                return Err(format!("`{shown}` could not run: {}", host_error_text(&e)));
            }
        };
        let output = match excerpt(&ran.stdout) {
            out if out.is_empty() => excerpt(&ran.stderr),
            out => out,
        };
        let output = if output.is_empty() {
            String::new()
        } else {
            format!(": {output}")
        };
        match ran.code {
            Some(code) if code == config.expected_exit_code => {
                Ok(format!("`{shown}` exited with {code}{output}"))
            }
            Some(code) => Err(format!(
                "`{shown}` exited with {code}, expected {}{}",
                config.expected_exit_code,
                match excerpt(&ran.stderr) {
                    err if err.is_empty() => output,
                    err => format!(": {err}"),
                }
            )),
            None => Err(format!("`{shown}` was ended by a signal{output}")),
        }
    }
}

keel_plugin_sdk::health_check!(Command);
