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

use host::HostError;
use types::{Problem, Scalar, Value};

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

/// Reads a settings table. Every getter records its key as known; [`Reader::finish`] then reports
/// the keys that no getter asked for. Getters return `None` both when an optional key is absent
/// and when a key is present but wrong (a problem has been recorded then).
pub struct Reader<'a> {
    settings: &'a [(String, Value)],
    known: Vec<&'static str>,
    problems: Vec<Problem>,
}

impl<'a> Reader<'a> {
    pub fn new(settings: &'a [(String, Value)]) -> Self {
        Reader {
            settings,
            known: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// Records a problem found by the caller (e.g. a value of the right type that makes no sense).
    pub fn problem(&mut self, key: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            key: key.to_string(),
            message: message.into(),
        });
    }

    fn lookup(&mut self, key: &'static str) -> Option<&'a Value> {
        self.known.push(key);
        self.settings.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Records the problem of a missing required key: a problem of the table as a whole.
    fn missing(&mut self, key: &str, expected: &str) {
        self.problem(
            "",
            format!("missing required setting \"{key}\": expected {expected}"),
        );
    }

    fn wrong(&mut self, key: &str, expected: &str, found: &Value) {
        self.problem(
            key,
            format!("expected {expected}, found {}", describe(found)),
        );
    }

    /// An optional string (it may be empty).
    pub fn string(&mut self, key: &'static str) -> Option<String> {
        match self.lookup(key)? {
            Value::Text(s) => Some(s.clone()),
            other => {
                self.wrong(key, "a string", other);
                None
            }
        }
    }

    /// A required, non-empty string.
    pub fn required_string(&mut self, key: &'static str) -> Option<String> {
        const EXPECTED: &str = "a non-empty string";
        match self.lookup(key) {
            None => {
                self.missing(key, EXPECTED);
                None
            }
            Some(Value::Text(s)) if !s.is_empty() => Some(s.clone()),
            Some(other) => {
                self.wrong(key, EXPECTED, other);
                None
            }
        }
    }

    /// An optional integer in `min..=max`.
    pub fn integer(&mut self, key: &'static str, min: i64, max: i64) -> Option<i64> {
        let value = self.lookup(key)?;
        self.check_integer(key, min, max, value)
    }

    /// A required integer in `min..=max`.
    pub fn required_integer(&mut self, key: &'static str, min: i64, max: i64) -> Option<i64> {
        match self.lookup(key) {
            Some(value) => self.check_integer(key, min, max, value),
            None => {
                self.missing(key, &format!("an integer between {min} and {max}"));
                None
            }
        }
    }

    fn check_integer(&mut self, key: &str, min: i64, max: i64, value: &Value) -> Option<i64> {
        match value {
            Value::Integer(i) if (min..=max).contains(i) => Some(*i),
            other => {
                self.wrong(key, &format!("an integer between {min} and {max}"), other);
                None
            }
        }
    }

    /// An optional boolean.
    pub fn bool(&mut self, key: &'static str) -> Option<bool> {
        match self.lookup(key)? {
            Value::Boolean(b) => Some(*b),
            other => {
                self.wrong(key, "true or false", other);
                None
            }
        }
    }

    /// An optional number of seconds (an integer or a float) in `min..=max`, e.g. `max_age = 30`
    /// or `max_age = 0.5`.
    pub fn seconds(&mut self, key: &'static str, min: f64, max: f64) -> Option<f64> {
        let expected = format!("a number of seconds between {min} and {max}");
        match self.lookup(key)? {
            Value::Integer(i) if (min..=max).contains(&(*i as f64)) => Some(*i as f64),
            Value::Float(f) if (min..=max).contains(f) => Some(*f),
            other => {
                self.wrong(key, &expected, other);
                None
            }
        }
    }

    /// An optional command line: an array of strings, or one string split into words the way a
    /// shell would (spaces separate words; '…', "…" and \ quote), without any other shell
    /// feature. An empty command is a problem.
    pub fn command_line(&mut self, key: &'static str) -> Option<Vec<String>> {
        let words = match self.lookup(key)? {
            Value::Text(s) => match split_words(s) {
                Ok(words) => words,
                Err(why) => {
                    self.problem(key, why);
                    return None;
                }
            },
            Value::Array(_) => {
                self.known.pop();
                self.string_array(key)?
            }
            other => {
                self.wrong(key, "a command (a string or an array of strings)", other);
                return None;
            }
        };
        if words.first().is_none_or(|w| w.is_empty()) {
            self.problem(
                key,
                "expected a program and its arguments, found an empty command",
            );
            return None;
        }
        Some(words)
    }

    /// An optional array of strings, e.g. `args = ["--port", "8080"]`.
    pub fn string_array(&mut self, key: &'static str) -> Option<Vec<String>> {
        let items = match self.lookup(key)? {
            Value::Array(items) => items,
            other => {
                self.wrong(key, "an array of strings", other);
                return None;
            }
        };
        let mut strings = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item {
                Scalar::Text(s) => strings.push(s.clone()),
                other => {
                    let message = format!(
                        "expected an array of strings, but item {} is {}{}",
                        i + 1,
                        describe_scalar(other),
                        quote_hint(other)
                    );
                    self.problem(key, message);
                    return None;
                }
            }
        }
        Some(strings)
    }

    /// An optional table of strings, e.g. `env = { RUST_LOG = "info" }`, in the order written.
    pub fn string_table(&mut self, key: &'static str) -> Option<Vec<(String, String)>> {
        let entries = match self.lookup(key)? {
            Value::Table(entries) => entries,
            other => {
                self.wrong(key, "a table of strings", other);
                return None;
            }
        };
        let mut table = Vec::with_capacity(entries.len());
        for (name, value) in entries {
            match value {
                Scalar::Text(s) => table.push((name.clone(), s.clone())),
                other => {
                    let message = format!(
                        "expected a table of strings, but \"{name}\" is {}{}",
                        describe_scalar(other),
                        quote_hint(other)
                    );
                    self.problem(key, message);
                    return None;
                }
            }
        }
        Some(table)
    }

    /// An optional string that must be one of `choices` (a problem names the closest one).
    pub fn one_of(&mut self, key: &'static str, choices: &[&'static str]) -> Option<&'static str> {
        let value = self.lookup(key)?;
        match value {
            Value::Text(s) => match choices.iter().find(|c| **c == s.as_str()) {
                Some(choice) => Some(choice),
                None => {
                    let message = not_one_of(s, choices);
                    self.problem(key, message);
                    None
                }
            },
            other => {
                let expected = format!("one of {}", quoted_list(choices));
                self.wrong(key, &expected, other);
                None
            }
        }
    }

    /// An optional array of strings, each one of `choices`, e.g. `phases = ["on-failed"]`.
    /// Duplicates are dropped; the order written is kept.
    pub fn list_of(
        &mut self,
        key: &'static str,
        choices: &[&'static str],
    ) -> Option<Vec<&'static str>> {
        let words = self.string_array(key)?;
        let mut chosen = Vec::with_capacity(words.len());
        for word in &words {
            match choices.iter().find(|c| **c == word.as_str()) {
                Some(choice) if chosen.contains(choice) => {}
                Some(choice) => chosen.push(*choice),
                None => {
                    let message = not_one_of(word, choices);
                    self.problem(key, message);
                    return None;
                }
            }
        }
        Some(chosen)
    }

    /// Adds a problem for every key no getter asked for and returns all problems.
    pub fn problems(mut self) -> Vec<Problem> {
        let unknown: Vec<&'a str> = self
            .settings
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !self.known.contains(k))
            .collect();
        for key in unknown {
            let message = match did_you_mean(key, &self.known) {
                Some(guess) => format!("unknown setting \"{key}\"; did you mean \"{guess}\"?"),
                None => {
                    format!(
                        "unknown setting \"{key}\"; known settings: {}",
                        self.known.join(", ")
                    )
                }
            };
            self.problem(key, message);
        }
        self.problems
    }

    /// `Ok(value)` when there were no problems (including unknown keys), else every problem.
    pub fn finish<T>(self, value: T) -> Result<T, Vec<Problem>> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(value)
        } else {
            Err(problems)
        }
    }
}

/// `"a", "b" or "c"`.
fn quoted_list(choices: &[&str]) -> String {
    let quoted: Vec<String> = choices.iter().map(|c| format!("{c:?}")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// The problem of a word that is none of `choices`, with a did-you-mean when one is close.
fn not_one_of(word: &str, choices: &[&'static str]) -> String {
    match did_you_mean(word, choices) {
        Some(guess) => format!("unknown value {word:?}; did you mean {guess:?}?"),
        None => format!(
            "unknown value {word:?}; expected one of {}",
            quoted_list(choices)
        ),
    }
}

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

/// How a value found in settings is named in a problem, e.g. `text "abc"`.
pub fn describe(value: &Value) -> String {
    match value {
        Value::Text(s) => describe_scalar(&Scalar::Text(s.clone())),
        Value::Integer(i) => describe_scalar(&Scalar::Integer(*i)),
        Value::Float(f) => describe_scalar(&Scalar::Float(*f)),
        Value::Boolean(b) => describe_scalar(&Scalar::Boolean(*b)),
        Value::Array(items) => match items.len() {
            1 => "an array of 1 item".to_string(),
            n => format!("an array of {n} items"),
        },
        Value::Table(_) => "a table".to_string(),
    }
}

fn describe_scalar(scalar: &Scalar) -> String {
    match scalar {
        Scalar::Text(s) => {
            // Long values are cut: the problem points at the key anyway.
            const MAX: usize = 60;
            match s.char_indices().nth(MAX) {
                Some((cut, _)) => format!("text {:?}...", &s[..cut]),
                None => format!("text {s:?}"),
            }
        }
        Scalar::Integer(i) => format!("integer {i}"),
        Scalar::Float(f) => format!("float {f:?}"),
        Scalar::Boolean(b) => format!("boolean {b}"),
    }
}

/// For a number or boolean where a string was expected: how to write it as one.
fn quote_hint(scalar: &Scalar) -> String {
    match scalar {
        Scalar::Integer(i) => format!(" (write \"{i}\")"),
        Scalar::Float(f) => format!(" (write \"{f}\")"),
        Scalar::Boolean(b) => format!(" (write \"{b}\")"),
        Scalar::Text(_) => String::new(),
    }
}

/// The known key closest to `key`, if it is close enough to be a likely typo.
pub fn did_you_mean<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let normalize = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let key = normalize(key);
    let (distance, best) = known
        .iter()
        .map(|k| (edit_distance(&key, &normalize(k)), *k))
        .min_by_key(|(d, _)| *d)?;
    // One edit for short keys, about one in three characters for longer ones.
    (distance <= (key.chars().count() / 3).max(1)).then_some(best)
}

/// Levenshtein distance, counting a swap of two adjacent characters as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows of the dynamic-programming table: two back, one back, current.
    let mut two_back = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(two_back[j - 2] + 1);
            }
        }
        std::mem::swap(&mut two_back, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
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
