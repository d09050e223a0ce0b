//! `env_file`: a real service prints the environment it was started with; a missing file and
//! a bad line are config errors located in both files.

use std::time::{Duration, Instant};

use keel_e2e::Platform;

const CONFIG: &str = r#"
[services.printer]
env_file = ["app.env", "local.env"]
[services.printer.deployment]
mode = "binary"
[services.printer.deployment.binary]
binary_path = "/bin/sh"
args = ["-c", "env | sort | sed 's/^/ENV /'; echo printed; exec sleep 300"]
env = { FROM_BOTH = "settings" }
"#;

#[test]
fn a_service_gets_its_env_files_under_its_own_settings() {
    let p = Platform::new(CONFIG);
    let dir = p.dir.path();
    std::fs::write(
        dir.join("app.env"),
        "# the application's defaults\n\
         GREETING=\"hello from the file\"\n\
         FROM_BOTH=file\n\
         OUTER_SEEN=${KEEL_E2E_OUTER}/data\n\
         NAME=app\n\
         COMBINED=${NAME}-${MISSING:-fallback}\n",
    )
    .unwrap();
    std::fs::write(dir.join("local.env"), "export NAME=local\n").unwrap();
    let r = p
        .cmd()
        .args(["services", "start", "printer"])
        .env("KEEL_E2E_OUTER", "/srv/outer")
        .output()
        .unwrap();
    let r: keel_e2e::Run = r.into();
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !p.log("printer").contains("printed") {
        assert!(
            Instant::now() < deadline,
            "no output:\n{}",
            p.log("printer")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = p.log("printer");
    let env: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split_once("[stdout] ENV ").map(|(_, v)| v))
        .collect();
    for expected in [
        "GREETING=hello from the file",
        // The service's own settings win over its env files.
        "FROM_BOTH=settings",
        // `${VAR}` from the environment Keel runs in.
        "OUTER_SEEN=/srv/outer/data",
        // A later file wins, also where an earlier line refers to the variable.
        "NAME=local",
        "COMBINED=local-fallback",
        // The daemon's own environment is still there underneath.
        "KEEL_E2E_OUTER=/srv/outer",
    ] {
        assert!(env.contains(&expected), "{expected:?} not in {env:#?}");
    }
}

#[test]
fn a_missing_file_and_a_bad_line_are_config_errors_in_both_files() {
    let p = Platform::new(CONFIG);
    let dir = p.dir.path();
    std::fs::write(dir.join("app.env"), "GOOD=1\nBAD LINE\n").unwrap();
    let config = p.config.display();
    let app = dir.join("app.env");
    let local = dir.join("local.env");

    let r = p.keel(&["services", "validate"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    for expected in [
        format!(
            "{config}:3:13: services.printer.env_file[0]: {}:2:9: invalid syntax in env file",
            app.display()
        ),
        format!(
            "{config}:3:24: services.printer.env_file[1]: cannot read env file {}: No such file or directory",
            local.display()
        ),
    ] {
        assert!(
            r.stdout.contains(&expected),
            "{expected}\nnot in:\n{}",
            r.stdout
        );
    }

    // Loading the config for any other command refuses it the same way, and starts nothing.
    let r = p.keel(&["services", "start", "printer"]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "services.printer.env_file[0]: {}:2:9: invalid syntax in env file",
            app.display()
        )),
        "{}",
        r.stderr
    );
    assert!(p.daemon_pid().is_none(), "no daemon should have started");
}
