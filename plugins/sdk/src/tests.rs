//! The SDK's own tests, on the native target.

use crate::types::{Scalar, Value};
use crate::*;

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
    let wit = include_str!("../wit/keel-plugin.wit");
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

#[test]
fn the_wit_is_the_hosts() {
    // The SDK carries its own copy so that a plugin outside this repository needs nothing
    // else; it must be the WIT the host binds.
    assert_eq!(
        include_str!("../wit/keel-plugin.wit"),
        include_str!("../../../wit/0.1.2/keel-plugin.wit")
    );
}

#[test]
fn suggestions_are_the_hosts() {
    // The same table the host's config validation is tested against.
    for (typo, expected, candidates) in keel_suggest::cases() {
        let s: Vec<(String, types::Value)> = vec![(typo.to_string(), types::Value::Boolean(true))];
        let mut r = Reader::new(&s);
        for c in &candidates {
            // Only keys a getter asks for are known: ask for each candidate.
            let key: &'static str = Box::leak(c.to_string().into_boxed_str());
            if key != typo {
                r.bool(key);
            }
        }
        let problems = r.problems();
        let message = &problems.last().expect("the typo is unknown").message;
        match expected {
            Some(guess) => assert!(
                message.ends_with(&format!("did you mean \"{guess}\"?")),
                "{typo}: {message}"
            ),
            None => assert!(!message.contains("did you mean"), "{typo}: {message}"),
        }
    }
}

#[test]
fn phases_follow_their_names() {
    for (i, phase) in lifecycle::PHASES.iter().enumerate() {
        assert_eq!(phase.name(), PHASE_NAMES[i]);
        assert_eq!(
            lifecycle::Phase::named(PHASE_NAMES[i]).map(|p| p as usize),
            Some(i)
        );
    }
}
