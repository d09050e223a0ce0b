//! `keel config schema` checked with a real JSON Schema validator (Python's `jsonschema`, which
//! `.ci/run` installs): the bundled configs pass, misspelt keys fail, and on every sample the
//! schema and Keel's own parser agree.

use std::path::Path;
use std::process::Command;

use keel_e2e::{keel, repo_root, run_with_config};

/// Validates TOML files against the schema: prints one line per file, "ok" or the errors.
const VALIDATE: &str = r#"
import json, sys, tomllib, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
for path in sys.argv[2:]:
    with open(path, "rb") as f:
        document = tomllib.load(f)
    errors = sorted(e.message for e in validator.iter_errors(document))
    print(json.dumps({"file": path, "errors": errors}))
"#;

/// The schema's verdict on each file: its errors (none when valid).
fn validate(dir: &Path, files: &[&Path]) -> Vec<Vec<String>> {
    let schema = dir.join("services.schema.json");
    let out = keel().args(["config", "schema"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&schema, &out.stdout).unwrap();
    let out = Command::new("python3")
        .arg("-c")
        .arg(VALIDATE)
        .arg(&schema)
        .args(files)
        .output()
        .expect("python3 with jsonschema (installed by .ci/run)");
    assert!(
        out.status.success(),
        "the validator failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e.as_str().unwrap().to_string())
                .collect()
        })
        .collect()
}

#[test]
fn the_bundled_configs_and_fixtures_are_valid() {
    let root = repo_root();
    let mut files = Vec::new();
    for dir in ["config", "tests/fixtures"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                files.push(p);
            }
        }
    }
    assert!(files.len() >= 3, "{files:?}");
    let tmp = tempfile::tempdir().unwrap();
    let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    for (file, errors) in files.iter().zip(validate(tmp.path(), &refs)) {
        assert!(errors.is_empty(), "{}: {errors:#?}", file.display());
    }
}

const BASE: &str = r#"
[services.web]
type = "platform"
dependencies = ["db"]
env_file = "web.env"
[services.web.deployment]
mode = "binary"
[services.web.deployment.binary]
binary_path = "/bin/true"
[services.web.deployment.docker]
image = "web:1"
[services.web.health_check]
type = "http"
interval = 0.5
[services.web.health_check.http]
endpoint = "http://localhost:8080/health"
[services.web.startup]
auto_start = false
restart = "on-failure"
restart_delay = 0

[[service]]
name = "db"
cmd = ["/bin/true"]
restart = "OnFailure"
health_check = "tcp://127.0.0.1:5432"

[orchestrator.services]
auto_start_dependencies = false

[plugins.grants.my-check]
network = ["127.0.0.1:*"]
memory_mb = 64
"#;

#[test]
fn misspelt_keys_are_rejected_and_the_parser_agrees_on_every_sample() {
    // (what to change in BASE, whether the schema and the parser accept it)
    let samples: &[(&str, &str, bool)] = &[
        ("", "", true),
        ("auto_start = false", "auto_strat = false", false),
        (
            "[services.web.deployment.docker]",
            "[services.web.deployment.dokcer]",
            false,
        ),
        ("type = \"platform\"", "typ = \"platform\"", false),
        ("restart = \"OnFailure\"", "restrat = \"OnFailure\"", false),
        ("[orchestrator.services]", "[orchestrator.service]", false),
        ("memory_mb = 64", "memory = 64", false),
        ("restart = \"on-failure\"", "restart = \"ON_FAILURE\"", true),
        ("restart = \"on-failure\"", "restart = \"sometimes\"", false),
        (
            "restart = \"on-failure\"",
            "restart = \"always\"\nrestart_on_failure = true",
            false,
        ),
        ("interval = 0.5", "interval = 0", false),
        ("type = \"platform\"", "type = \"platfrom\"", false),
        (
            "[[service]]",
            "[[service]]\nname = \"bad name!\"\n[[service]]",
            false,
        ),
        // A third-party mode's own table sits beside the standard ones.
        (
            "mode = \"binary\"",
            "mode = \"my-mode\"\n[services.web.deployment.my-mode]\nx = 1",
            true,
        ),
        // With a standard mode selected, another table is a typo.
        (
            "[services.web.deployment.docker]",
            "[services.web.deployment.my-mode]",
            false,
        ),
        (
            "type = \"http\"",
            "type = \"none\"\n[services.web.startup2]",
            false,
        ),
        // A notify check: its own table, and none of the polling keys.
        (
            "type = \"http\"\ninterval = 0.5",
            "type = \"notify\"\n[services.web.health_check.notify]\nwatchdog = 5\nnotification_fd = 3",
            true,
        ),
        ("type = \"http\"", "type = \"notify\"", false),
        (
            "type = \"http\"\ninterval = 0.5",
            "type = \"notify\"\n[services.web.health_check.notify]\nwatchdg = 5",
            false,
        ),
        (
            "health_check = \"tcp://127.0.0.1:5432\"",
            "health_check = \"notify\"",
            true,
        ),
    ];
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("web.env"), "A=1\n").unwrap();
    let mut files = Vec::new();
    for (i, (from, to, _)) in samples.iter().enumerate() {
        assert!(BASE.contains(from), "{from}");
        let text = if from.is_empty() {
            BASE.to_string()
        } else {
            BASE.replacen(from, to, 1)
        };
        let path = tmp.path().join(format!("sample-{i}.toml"));
        std::fs::write(&path, text).unwrap();
        files.push(path);
    }
    let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let verdicts = validate(tmp.path(), &refs);
    for ((file, (_, to, valid)), errors) in files.iter().zip(samples).zip(verdicts) {
        assert_eq!(errors.is_empty(), *valid, "schema on {to:?}: {errors:#?}");
        let text = std::fs::read_to_string(file).unwrap();
        let parsed = run_with_config(
            &text.replace("web.env", &tmp.path().join("web.env").display().to_string()),
            &["services", "list"],
        );
        assert_eq!(
            parsed.code == 0,
            *valid,
            "the parser on {to:?}: {}{}",
            parsed.stdout,
            parsed.stderr
        );
    }
}
