//! One way to show a command's answer: each command builds a typed report, and [`emit`] prints
//! it as text for people or, with `--json`, as the envelope's `data` for scripts.

use serde::Serialize;
use serde_json::json;

use super::context::Exit;

/// A command's answer.
pub trait Report: Serialize {
    /// What a person reads on stdout (styles are stripped where colour is not wanted).
    fn text(&self) -> String;
    /// Notes for stderr beside the text (never in the JSON document's place).
    fn notes(&self) -> String {
        String::new()
    }
    /// The exit status the answer means.
    fn exit(&self) -> Exit {
        Exit::Ok
    }
}

/// Prints `report` (text, or the JSON envelope) and returns its exit status.
pub fn emit(json: bool, report: &impl Report) -> Exit {
    if json {
        json_ok(report);
    } else {
        anstream::print!("{}", report.text());
        anstream::eprint!("{}", report.notes());
    }
    report.exit()
}

/// `{"success": true, "data": …}` on stdout.
pub fn json_ok<T: Serialize + ?Sized>(data: &T) {
    let v = keel_api::Success::new(data);
    println!(
        "{}",
        serde_json::to_string_pretty(&v).expect("serializable")
    );
}

/// `{"success": false, "error": …}` on stdout, so a script reads one document either way.
pub fn json_error(message: &str, details: Option<&serde_json::Value>) {
    let mut error = json!({ "message": message });
    if let Some(d) = details {
        error["details"] = d.clone();
    }
    let v = json!({ "success": false, "error": error });
    println!(
        "{}",
        serde_json::to_string_pretty(&v).expect("serializable")
    );
}

/// A report that is only text and data: for commands whose text is one line.
#[derive(Serialize)]
#[serde(transparent)]
pub struct Said<T: Serialize> {
    pub data: T,
    #[serde(skip)]
    pub text: String,
    #[serde(skip)]
    pub exit: Exit,
}

impl<T: Serialize> Said<T> {
    pub fn new(data: T, text: impl Into<String>) -> Self {
        Self {
            data,
            text: text.into(),
            exit: Exit::Ok,
        }
    }
}

impl<T: Serialize> Report for Said<T> {
    fn text(&self) -> String {
        self.text.clone()
    }
    fn exit(&self) -> Exit {
        self.exit
    }
}
