//! What Keel's own plugins (the bundled ones and the host's test fixtures) have in common.
//!
//! * Bindings for what Keel's worlds import (`keel:plugin/types` and `keel:plugin/host`, and for
//!   the `lifecycle-plugin` world `store`, `services` and `files`) are generated here once; a
//!   plugin crate generates only its own exports with [`world!`], which points wit-bindgen at
//!   these modules. A plugin's component imports only the interfaces it calls.
//! * [`Reader`] reads typed values out of a `settings` table, collecting a precise [`Problem`]
//!   for every key that is missing or has the wrong type, and reports keys nobody asked for as
//!   unknown, with a did-you-mean.
//! * [`json`] writes and reads the JSON that plugins exchange with HTTP APIs, and [`base64`]
//!   and [`fnv1a`] encode bytes for them and for store keys.

pub use wit_bindgen;

pub mod json;
mod reader;

mod bindings {
    // An imports-only world. The component linker merges the world described by this crate's
    // custom section with the plugin's own world, so it must not mention any export.
    wit_bindgen::generate!({
        path: "../../wit/0.1.2",
        inline: "
            package keel:sdk;
            world imports {
                import keel:plugin/types@0.1.2;
                import keel:plugin/host@0.1.2;
                import keel:plugin/store@0.1.2;
                import keel:plugin/services@0.1.2;
                import keel:plugin/files@0.1.2;
            }
        ",
        generate_all,
        // `types` is used by the plugins' exports, not by any import: generate it anyway.
        generate_unused_types: true,
    });
}

pub use bindings::keel::plugin::{files, host, services, store, types};
pub use reader::{Reader, describe, did_you_mean};

use host::HostError;
use types::Problem;

/// Generates the bindings of one `keel:plugin` world in the calling crate, reusing this crate's
/// bindings for the imports. Use it at the crate root, then `export!(YourType);`:
///
/// ```ignore
/// keel_plugin_sdk::world!("health-check-plugin");
/// ```
///
/// wit-bindgen resolves the WIT path from the calling crate's manifest, so the crate must sit two
/// directories below `plugins/` (like `plugins/bundled/tcp` or `plugins/fixtures/spin`).
#[macro_export]
macro_rules! world {
    // wit-bindgen refuses a `with` entry the world does not use, and only `lifecycle-plugin`
    // imports `store`, `services` and `files`, so that world gets the longer list.
    ("lifecycle-plugin") => {
        $crate::wit_bindgen::generate!({
            path: "../../../wit/0.1.2",
            world: "lifecycle-plugin",
            with: {
                "keel:plugin/types@0.1.2": keel_plugin_sdk::types,
                "keel:plugin/host@0.1.2": keel_plugin_sdk::host,
                "keel:plugin/store@0.1.2": keel_plugin_sdk::store,
                "keel:plugin/services@0.1.2": keel_plugin_sdk::services,
                "keel:plugin/files@0.1.2": keel_plugin_sdk::files,
            },
            runtime_path: "keel_plugin_sdk::wit_bindgen::rt",
        });
    };
    ($world:literal) => {
        $crate::wit_bindgen::generate!({
            path: "../../../wit/0.1.2",
            world: $world,
            with: {
                "keel:plugin/types@0.1.2": keel_plugin_sdk::types,
                "keel:plugin/host@0.1.2": keel_plugin_sdk::host,
            },
            runtime_path: "keel_plugin_sdk::wit_bindgen::rt",
        });
    };
}

/// The names of `lifecycle.phase`'s cases, in the WIT's order: the generated enum is `repr(u8)`
/// in that order, so `phase as usize` indexes this (the `lifecycle` bindings are generated in
/// each hook's crate, so the SDK cannot name the enum itself).
pub const PHASE_NAMES: [&str; 9] = [
    "before-start",
    "after-start",
    "on-healthy",
    "on-check",
    "before-stop",
    "after-stop",
    "before-restart",
    "on-unhealthy",
    "on-failed",
];

/// The names of `lifecycle.cause`'s cases, in the WIT's order (see [`PHASE_NAMES`]).
pub const CAUSE_NAMES: [&str; 8] = [
    "operator",
    "dependency",
    "auto-start",
    "restart-policy",
    "health",
    "shutdown",
    "timeout",
    "recovery",
];

/// Splits a command line into words like a POSIX shell does for a simple command: blanks
/// separate words, single quotes keep everything literally, double quotes keep everything but
/// `\"` and `\\`, a backslash outside quotes escapes the next character. No expansion of any
/// kind. An unclosed quote is an error.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(format!("unclosed single quote in {line:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(format!("unclosed double quote in {line:?}")),
                        },
                        Some(c) => word.push(c),
                        None => return Err(format!("unclosed double quote in {line:?}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err(format!("a trailing backslash in {line:?}")),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// What a program run through the host's `run-command` printed and how it ended.
pub struct Ran {
    /// The exit code, or none when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The first non-empty line of stderr, else of stdout, e.g. to explain a failure.
    pub fn first_line(&self) -> &str {
        self.stderr
            .lines()
            .chain(self.stdout.lines())
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("")
    }
}

/// Runs a granted program through the host (no shell) and returns its output as text. The error
/// is the host's reason, e.g. `failed: cannot run `docker`: No such file or directory`.
pub fn run(program: &str, args: &[&str], timeout_ms: u32) -> Result<Ran, HostError> {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out = host::run_command(program, &args, timeout_ms)?;
    Ok(Ran {
        code: out.exit_code,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Standard base64 with padding (RFC 4648, section 4), as protobuf's JSON mapping writes
/// `bytes` fields (etcd's keys and values).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The 64-bit FNV-1a hash of `parts`, each followed by a zero byte so that `("ab", "c")` and
/// `("a", "bc")` differ: a short, stable name for store keys built from long or arbitrary text.
pub fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.iter().chain(&[0]) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

/// One line for a list of problems, e.g. for a check run with settings that do not validate.
pub fn problems_text(problems: &[Problem]) -> String {
    let parts: Vec<String> = problems
        .iter()
        .map(|p| {
            if p.key.is_empty() {
                p.message.clone()
            } else {
                format!("{}: {}", p.key, p.message)
            }
        })
        .collect();
    format!("invalid settings: {}", parts.join("; "))
}

/// A host error as text, e.g. `denied: path /etc/shadow`.
pub fn host_error_text(error: &HostError) -> String {
    match error {
        HostError::Denied(what) => format!("denied: {what}"),
        HostError::Failed(why) => format!("failed: {why}"),
        HostError::TimedOut => "timed out".to_string(),
    }
}

/// `host:port` as an authority, with an IPv6 address in brackets (`[::1]:8080`).
pub fn authority(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The text of an I/O error without the `(os error N)` suffix or std's "failed to lookup address
/// information: " prefix, starting in lower case (`connection refused`), to fit in the middle of
/// a sentence.
pub fn io_error_text(error: &std::io::Error) -> String {
    let text = error.to_string();
    let text = match text.rfind(" (os error ") {
        Some(at) => &text[..at],
        None => &text,
    };
    let text = text
        .strip_prefix("failed to lookup address information: ")
        .unwrap_or(text);
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => format!("{:?}", error.kind()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Scalar, Value};

    fn settings(pairs: &[(&str, Value)]) -> Vec<(String, Value)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn integer_problems_are_precise() {
        let s = settings(&[
            ("port", Value::Text("abc".into())),
            ("prot", Value::Integer(1)),
        ]);
        let mut r = Reader::new(&s);
        assert_eq!(r.required_integer("port", 1, 65535), None);
        r.string("host");
        let problems = r.problems();
        assert_eq!(problems[0].key, "port");
        assert_eq!(
            problems[0].message,
            "expected an integer between 1 and 65535, found text \"abc\""
        );
        assert_eq!(
            problems[1].message,
            "unknown setting \"prot\"; did you mean \"port\"?"
        );
    }

    #[test]
    fn missing_and_unknown() {
        let s = settings(&[("zzzzzz", Value::Boolean(true))]);
        let mut r = Reader::new(&s);
        r.required_string("binary_path");
        r.string_array("args");
        let problems = r.problems();
        assert_eq!(problems[0].key, "");
        assert_eq!(
            problems[0].message,
            "missing required setting \"binary_path\": expected a non-empty string"
        );
        assert_eq!(
            problems[1].message,
            "unknown setting \"zzzzzz\"; known settings: binary_path, args"
        );
    }

    #[test]
    fn arrays_and_tables() {
        let s = settings(&[
            (
                "args",
                Value::Array(vec![Scalar::Text("--port".into()), Scalar::Integer(8080)]),
            ),
            (
                "env",
                Value::Table(vec![("RUST_LOG".into(), Scalar::Text("info".into()))]),
            ),
        ]);
        let mut r = Reader::new(&s);
        assert_eq!(r.string_array("args"), None);
        assert_eq!(
            r.string_table("env"),
            Some(vec![("RUST_LOG".into(), "info".into())])
        );
        let problems = r.problems();
        assert_eq!(
            problems[0].message,
            "expected an array of strings, but item 2 is integer 8080 (write \"8080\")"
        );
        assert_eq!(problems.len(), 1);
    }

    #[test]
    fn words() {
        assert_eq!(
            split_words("systemctl is-active  myservice").unwrap(),
            ["systemctl", "is-active", "myservice"]
        );
        assert_eq!(
            split_words(r#"sh -c 'test -f "/tmp/a b"' x\ y "q\"d""#).unwrap(),
            ["sh", "-c", r#"test -f "/tmp/a b""#, "x y", "q\"d"]
        );
        assert_eq!(split_words("a ''").unwrap(), ["a", ""]);
        assert!(split_words("echo 'oops").is_err());
    }

    #[test]
    fn seconds_and_command_lines() {
        let s = settings(&[
            ("max_age", Value::Float(0.5)),
            ("timeout", Value::Integer(-1)),
            ("command", Value::Text("check --fast".into())),
            (
                "other",
                Value::Array(vec![Scalar::Text("/bin/true".into())]),
            ),
        ]);
        let mut r = Reader::new(&s);
        assert_eq!(r.seconds("max_age", 0.0, 86400.0), Some(0.5));
        assert_eq!(r.seconds("timeout", 0.0, 10.0), None);
        assert_eq!(
            r.command_line("command"),
            Some(vec!["check".to_string(), "--fast".to_string()])
        );
        assert_eq!(r.command_line("other"), Some(vec!["/bin/true".to_string()]));
        let problems = r.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(
            problems[0].message,
            "expected a number of seconds between 0 and 10, found integer -1"
        );
    }

    #[test]
    fn choices() {
        let s = settings(&[
            ("method", Value::Text("PSOT".into())),
            (
                "phases",
                Value::Array(vec![
                    Scalar::Text("on-failed".into()),
                    Scalar::Text("on-failed".into()),
                    Scalar::Text("on-healthy".into()),
                ]),
            ),
            ("level", Value::Text("loud".into())),
            ("bad", Value::Array(vec![Scalar::Text("on_failed".into())])),
        ]);
        let mut r = Reader::new(&s);
        assert_eq!(r.one_of("method", &["GET", "POST"]), None);
        assert_eq!(
            r.list_of("phases", &["on-failed", "on-healthy"]),
            Some(vec!["on-failed", "on-healthy"])
        );
        assert_eq!(r.one_of("level", &["info", "warn", "error"]), None);
        assert_eq!(r.list_of("bad", &["on-failed", "on-healthy"]), None);
        let messages: Vec<String> = r.problems().into_iter().map(|p| p.message).collect();
        assert_eq!(
            messages,
            [
                "unknown value \"PSOT\"; did you mean \"POST\"?",
                "unknown value \"loud\"; expected one of \"info\", \"warn\" or \"error\"",
                "unknown value \"on_failed\"; did you mean \"on-failed\"?",
            ]
        );
    }

    #[test]
    fn encodings() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"/keel/services/web"), "L2tlZWwvc2VydmljZXMvd2Vi");
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
        assert_eq!(fnv1a(&[]), 0xcbf2_9ce4_8422_2325);
        assert_ne!(fnv1a(&[b"ab", b"c"]), fnv1a(&[b"a", b"bc"]));
    }

    /// The cases of a WIT enum, in order.
    fn wit_enum(wit: &str, name: &str) -> Vec<String> {
        let start = wit.find(&format!("enum {name} {{")).expect("the enum");
        let body = &wit[start..start + wit[start..].find('}').unwrap()];
        body.lines()
            .skip(1)
            .map(str::trim)
            .filter(|l| !l.starts_with("//") && !l.is_empty())
            .map(|l| l.trim_end_matches(',').to_string())
            .collect()
    }

    #[test]
    fn lifecycle_names_follow_the_wit() {
        let wit = include_str!("../../../wit/0.1.2/keel-plugin.wit");
        assert_eq!(wit_enum(wit, "phase"), PHASE_NAMES);
        assert_eq!(wit_enum(wit, "cause"), CAUSE_NAMES);
    }

    #[test]
    fn typos() {
        assert_eq!(
            did_you_mean("binary-path", &["binary_path", "args"]),
            Some("binary_path")
        );
        assert_eq!(
            did_you_mean("expected_staus", &["expected_status"]),
            Some("expected_status")
        );
        assert_eq!(did_you_mean("hots", &["host", "port"]), Some("host"));
        assert_eq!(did_you_mean("colour", &["host", "port"]), None);
    }
}
