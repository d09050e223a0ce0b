//! Shell completion and the manual page, as a shell and `man` receive them.

use std::process::Command;

use keel_e2e::{keel, keel_bin};

const CONFIG: &str = r#"
[services.alpha]
description = "the first"
category = "storage"
required_for = ["deploy"]
[services.alpha.deployment]
mode = "binary"
[services.alpha.deployment.binary]
binary_path = "/bin/true"

[[service]]
name = "alphabet"
cmd = ["/bin/true"]
category = "web"

[services.beta]
[services.beta.deployment]
mode = "my-mode"
"#;

fn completion_script(shell: &str) -> String {
    let out = keel().args(["completions", shell]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What bash's completion of `words` (the last one being completed) puts in COMPREPLY: the
/// registered function run in a real bash, the way bash runs it at a <TAB>.
fn bash_completes(dir: &std::path::Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let script = format!(
        "source <({bin} completions bash) || exit 9\n\
         COMP_WORDS=({words})\n\
         COMP_CWORD={cword}\n\
         COMP_LINE=\"${{COMP_WORDS[*]}}\"\n\
         COMP_POINT=${{#COMP_LINE}}\n\
         COMP_TYPE=9\n\
         _clap_complete_keel keel \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        bin = keel_bin().display(),
        words = quoted.join(" "),
        cword = words.len() - 1,
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &script])
        .current_dir(dir)
        .env_remove("KEEL_CONFIG")
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "bash failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn the_bash_script_loads_in_a_real_bash_and_registers_keel() {
    let out = Command::new("bash")
        .args([
            "--norc",
            "--noprofile",
            "-c",
            &format!(
                "set -e; source <({} completions bash); complete -p keel",
                keel_bin().display()
            ),
        ])
        .output()
        .expect("bash");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.is_empty(), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("-F _clap_complete_keel keel"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The other shells' scripts call the same binary back.
    let bin = keel_bin().display().to_string();
    let zsh = completion_script("zsh");
    assert!(
        zsh.starts_with("#compdef keel") && zsh.contains(&bin),
        "{zsh}"
    );
    let fish = completion_script("fish");
    assert!(
        fish.contains("--command keel") && fish.contains(&bin),
        "{fish}"
    );
}

#[test]
fn bash_completes_service_names_and_more_from_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("services.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let c = config.to_str().unwrap();

    // From `--config` on the command line being completed, in the config's order (the full
    // form's table, then the short form's entries), before the options.
    let offered = bash_completes(
        std::path::Path::new("/"),
        &["keel", "--config", c, "services", "status", ""],
    );
    assert_eq!(offered[..3], ["alpha", "beta", "alphabet"], "{offered:?}");
    assert!(
        offered[3..].iter().all(|o| o.starts_with("--")),
        "{offered:?}"
    );
    assert_eq!(
        bash_completes(
            std::path::Path::new("/"),
            &["keel", "--config", c, "platform", "start", "alpha", "alph"]
        ),
        ["alpha", "alphabet"]
    );
    // From ./services.toml, as Keel finds it without --config.
    assert_eq!(
        bash_completes(dir.path(), &["keel", "services", "restart", "b"]),
        ["beta"]
    );
    assert_eq!(
        bash_completes(dir.path(), &["keel", "services", "list", "--category", ""]),
        ["storage", "general", "web"]
    );
    assert_eq!(
        bash_completes(dir.path(), &["keel", "services", "check", "d"]),
        ["deploy"]
    );
    // Plugin names: the bundled ones and the modes the config names.
    let plugins = bash_completes(dir.path(), &["keel", "plugins", "inspect", ""]);
    for p in [
        "binary",
        "docker",
        "docker-compose",
        "http",
        "tcp",
        "my-mode",
    ] {
        assert!(plugins.iter().any(|x| x == p), "{p} not in {plugins:?}");
    }
    // Commands still complete as clap knows them.
    assert_eq!(
        bash_completes(dir.path(), &["keel", "services", "sta"]),
        ["start", "status"]
    );
    // No config to be found: only the options, and no error in the middle of the command line.
    let empty = tempfile::tempdir().unwrap();
    let offered = bash_completes(empty.path(), &["keel", "services", "status", ""]);
    assert!(offered.iter().all(|o| o.starts_with("--")), "{offered:?}");
}

#[test]
fn the_man_page_is_roff_naming_every_command() {
    let out = keel().arg("man").output().unwrap();
    assert!(out.status.success());
    let page = String::from_utf8(out.stdout).unwrap();
    // roff: every line is a request or text, a title first and the usual sections.
    let th = page
        .lines()
        .find(|l| l.starts_with(".TH"))
        .expect("a .TH title");
    assert!(th.starts_with(".TH keel 1"), "{th}");
    for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS"] {
        assert!(page.contains(&format!("\n.SH {section}\n")), "no {section}");
    }
    let requests: Vec<&str> = page
        .lines()
        .filter(|l| l.starts_with('.'))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    for r in &requests {
        assert!(
            [
                ".TH", ".SH", ".TP", ".PP", ".RS", ".RE", ".ie", ".el", ".br", ".IP"
            ]
            .contains(r),
            "unexpected request {r}"
        );
    }

    // Rendered as a reader sees it.
    let mut man = Command::new("man")
        .args(["-l", "-"])
        .env("MANWIDTH", "100")
        .env("MANPAGER", "cat")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("`man` (man-db) is needed for this test");
    use std::io::Write;
    man.stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let shown = man.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.status.success() && shown.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    for command in [
        "keel platform start [OPTIONS] [NAMES]...",
        "keel platform stop",
        "keel services status [OPTIONS] <NAME>",
        "keel services validate",
        "keel daemon stop",
        "keel plugins inspect",
        "keel completions [OPTIONS] <SHELL>",
        "keel man",
    ] {
        assert!(text.contains(command), "{command:?} not in:\n{text}");
    }
    assert!(text.contains("--state-dir"), "{text}");
}
