//! How the CLI prints: human text (tables, icons, colour only where the terminal takes it and
//! `NO_COLOR` is unset) or, with `--json`, the control API's envelope for scripts.

use anstyle::{AnsiColor, Style};
use serde::Serialize;
use serde_json::json;

pub const BOLD: Style = Style::new().bold();
pub const RED: Style = AnsiColor::Red.on_default().bold();
pub const GREEN: Style = AnsiColor::Green.on_default();
pub const YELLOW: Style = AnsiColor::Yellow.on_default();
pub const DIM: Style = Style::new().dimmed();

/// `text` in `style`; anstream removes the escapes where colour is not wanted.
pub fn styled(style: Style, text: impl std::fmt::Display) -> String {
    format!("{style}{text}{style:#}")
}

/// `{"success": true, "data": …}` on stdout.
pub fn json_ok<T: Serialize>(data: &T) {
    let v = json!({ "success": true, "data": data });
    println!(
        "{}",
        serde_json::to_string_pretty(&v).expect("serializable")
    );
}

/// `{"success": false, "error": …}` on stdout, so a script reads one document either way.
pub fn json_error(message: &str, details: Option<serde_json::Value>) {
    let mut error = json!({ "message": message });
    if let Some(d) = details {
        error["details"] = d;
    }
    let v = json!({ "success": false, "error": error });
    println!(
        "{}",
        serde_json::to_string_pretty(&v).expect("serializable")
    );
}

/// A borderless table with a header row, columns separated by two spaces (elastic
/// tabstops: each column as wide as its widest cell, by display width).
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
