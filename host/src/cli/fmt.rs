//! How things look, with no knowledge of commands: styles (colour only where the terminal
//! takes it and `NO_COLOR` is unset: anstream strips the escapes elsewhere), tables and the
//! small phrases several commands share.

use anstyle::{AnsiColor, Style};
use keel_api::{ExitInfo, ServiceView, Snapshot};

pub const BOLD: Style = Style::new().bold();
pub const RED: Style = AnsiColor::Red.on_default().bold();
pub const GREEN: Style = AnsiColor::Green.on_default();
pub const YELLOW: Style = AnsiColor::Yellow.on_default();
pub const DIM: Style = Style::new().dimmed();

/// `text` in `style`; anstream removes the escapes where colour is not wanted.
pub fn styled(style: Style, text: impl std::fmt::Display) -> String {
    format!("{style}{text}{style:#}")
}

/// "✅" in green.
pub fn ok_mark() -> String {
    styled(GREEN, "✅")
}

/// "❌" in red.
pub fn fail_mark() -> String {
    styled(RED, "❌")
}

/// A borderless table with a header row, columns separated by two spaces (elastic
/// tabstops: each column as wide as its widest cell, by display width). No final newline.
pub fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    use std::io::Write;
    let mut out = tabwriter::TabWriter::new(Vec::new()).minwidth(0).padding(2);
    // A tab inside a cell would start a new column.
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        cells
            .map(|c| c.replace('\t', " "))
            .collect::<Vec<_>>()
            .join("\t")
    };
    let mut text = line(&mut headers.iter().copied());
    for r in &rows {
        text.push('\n');
        text.push_str(&line(&mut r.iter().map(String::as_str)));
    }
    text.push('\n');
    out.write_all(text.as_bytes()).expect("writing to memory");
    let bytes = out.into_inner().expect("writing to memory");
    String::from_utf8_lossy(&bytes)
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Seconds since a Unix time in milliseconds.
pub fn uptime_secs(started_at_ms: Option<u64>) -> Option<u64> {
    Some(crate::state::now_ms().saturating_sub(started_at_ms?) / 1000)
}

/// "exit code 3", "killed by SIGKILL", "exited (status unknown)", or "-" for none.
pub fn describe_exit(exit: Option<&ExitInfo>) -> String {
    exit.map_or_else(|| "-".into(), ToString::to_string)
}

/// "api with PID 42", or just "api" when no process runs.
pub fn snapshot_line(s: &Snapshot) -> String {
    match s.pid {
        Some(pid) => format!("{} with PID {pid}", s.name),
        None => s.name.clone(),
    }
}

/// A service's health as one phrase: "healthy (message)", "none (no health check)", …
pub fn health_phrase(v: &ServiceView) -> String {
    match (&v.health_check, &v.live.health) {
        (None, _) => "none (no health check)".to_string(),
        (Some(_), Some(h)) => match &h.last {
            Some(r) => format!("{} ({})", h.state, r.message),
            None => h.state.to_string(),
        },
        (Some(_), None) => "unknown (not running)".to_string(),
    }
}
