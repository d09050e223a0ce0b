//! How the CLI prints: human text (tables, icons, colour only where the terminal takes it and
//! `NO_COLOR` is unset) or, with `--json`, the control API's envelope for scripts.

use anstyle::{AnsiColor, Style};
use comfy_table::{ContentArrangement, Table, presets};
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

/// A borderless table with a header row, columns separated by two spaces.
pub fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(headers.iter().map(|h| h.to_string()));
    for r in rows {
        t.add_row(r);
    }
    for c in t.column_iter_mut() {
        c.set_padding((0, 2));
    }
    t.lines()
        .map(|l| l.trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}
