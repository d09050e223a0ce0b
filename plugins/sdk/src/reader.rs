//! [`Reader`]: typed values out of a `settings` table, with a precise problem for every key
//! that is missing, of the wrong type or unknown (with a did-you-mean), and how values are named
//! in those problems.

use crate::split_words;
use crate::types::{Problem, Scalar, Value};

/// Reads a settings table. Every getter records its key as known; [`Reader::finish`] then reports
/// the keys that no getter asked for. Getters return `None` both when an optional key is absent
/// and when a key is present but wrong (a problem has been recorded then).
pub struct Reader<'a> {
    settings: &'a [(String, Value)],
    known: Vec<&'static str>,
    problems: Vec<Problem>,
    other_keys_allowed: bool,
}

impl<'a> Reader<'a> {
    pub fn new(settings: &'a [(String, Value)]) -> Self {
        Reader {
            settings,
            known: Vec::new(),
            problems: Vec::new(),
            other_keys_allowed: false,
        }
    }

    /// Keys no getter asks for are not problems: for a plugin that takes any table (a test
    /// double, a pass-through).
    pub fn allow_other_keys(&mut self) {
        self.other_keys_allowed = true;
    }

    /// Records a problem found by the caller (e.g. a value of the right type that makes no sense).
    pub fn problem(&mut self, key: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            key: key.to_string(),
            message: message.into(),
        });
    }

    /// Whether the table has `key` (without reading it).
    pub fn has(&self, key: &str) -> bool {
        self.settings.iter().any(|(k, _)| k == key)
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
            .filter(|k| !self.other_keys_allowed && !self.known.contains(k))
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

/// The known key closest to `key`, if it is close enough to be a likely typo: the host's own
/// did-you-mean (`keel-suggest`), so a typo gets the same suggestion in a plugin's settings as in
/// the rest of services.toml.
pub fn did_you_mean<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    keel_suggest::did_you_mean(key, known.iter().copied())
}
