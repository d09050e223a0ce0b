//! The `docker` and `docker-compose` deployment modes against the real Docker engine, with a
//! local image (`config/demo/build-image.sh`: static busybox imported with `docker import`, built
//! once per tag). A container started, healthy through an http check, its output in the log,
//! stopped without leftovers; killed from outside and restarted by Keel's policy; re-adopted
//! after the daemon is SIGKILLed; a compose file's two services ordered by Keel; pre-flight
//! reports of a missing image and a foreign container of the same name.
//!
//! These tests are skipped when no engine answers, unless `KEEL_REQUIRE_DOCKER=1` (CI sets it),
//! which makes them fail instead.

use keel_e2e::free_port;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use keel_e2e::{Platform, repo_root};

/// The image the tests run, built by the demo's script when missing.
const IMAGE: &str = "keel-busybox:1";

/// Whether the engine answers; panics instead of skipping when `KEEL_REQUIRE_DOCKER=1`.
fn engine() -> bool {
    static UP: OnceLock<bool> = OnceLock::new();
    let up = *UP.get_or_init(|| {
        let answered = Command::new("docker")
            .args(["version", "--format", "{{.Server.Version}}"])
            .output()
            .is_ok_and(|o| o.status.success());
        if answered {
            let built = Command::new(repo_root().join("config/demo/build-image.sh"))
                .arg(IMAGE)
                .status()
                .expect("running config/demo/build-image.sh");
            assert!(built.success(), "building the test image {IMAGE} failed");
        }
        answered
    });
    if !up {
        assert!(
            std::env::var("KEEL_REQUIRE_DOCKER").as_deref() != Ok("1"),
            "KEEL_REQUIRE_DOCKER=1 but no Docker engine answers `docker version`"
        );
        eprintln!("skipped: no Docker engine answers");
    }
    up
}

/// A name no other test (or concurrent test run) uses.
fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("docker");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// IDs of the containers (running or not) named exactly `name`.
fn containers_named(name: &str) -> Vec<String> {
    docker(&[
        "ps",
        "-a",
        "--no-trunc",
        "--filter",
        &format!("name=^/{name}$"),
        "--format",
        "{{.ID}}",
    ])
    .split_whitespace()
    .map(String::from)
    .collect()
}

/// Removes the named containers when a test ends, however it ends.
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = Command::new("docker").args(["rm", "-f", name]).output();
        }
    }
}

/// A docker-mode service `name` running busybox httpd in container `container` on `port`.
fn httpd_service(name: &str, container: &str, port: u16, extra: &str) -> String {
    format!(
        r#"
[services.{name}]
{extra}
[services.{name}.deployment]
mode = "docker"
[services.{name}.deployment.docker]
image = "{IMAGE}"
container_name = "{container}"
ports = ["127.0.0.1:{port}:80"]
command = ["sh", "-c", "echo container {container} says hello; exec httpd -f -v -p 80 -h /www"]
env = {{ GREETING = "hi" }}
stop_timeout = 3
[services.{name}.health_check]
type = "http"
interval = 0.5
[services.{name}.health_check.http]
endpoint = "http://127.0.0.1:{port}/health"
[services.{name}.startup]
start_timeout = 30
"#
    )
}

fn pid(status: &serde_json::Value) -> i64 {
    status["pid"].as_i64().expect("a pid")
}

#[test]
fn a_container_starts_healthy_logs_and_stops_without_leftovers() {
    if !engine() {
        return;
    }
    let container = unique("keel-test-web");
    let _cleanup = Cleanup(vec![container.clone()]);
    let port = free_port();
    let p = Platform::new(&httpd_service("web", &container, port, ""));

    let r = p.keel(&["services", "start", "web"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!("Image found: {IMAGE}")),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("Docker engine answers"), "{}", r.stdout);
    let s = p.status("web");
    assert_eq!(s["status"], "running", "{s}");
    assert_eq!(s["health"]["state"], "healthy", "{s}");
    assert_eq!(containers_named(&container).len(), 1);
    let labels = docker(&[
        "inspect",
        "--format",
        "{{index .Config.Labels \"keel.service\"}} {{range .Config.Env}}{{.}},{{end}}",
        &container,
    ]);
    assert!(labels.starts_with("web "), "{labels}");
    assert!(labels.contains("GREETING=hi"), "{labels}");

    // The container's own output (stdout and stderr) through `keel services logs`.
    let deadline = Instant::now() + Duration::from_secs(10);
    let logs = loop {
        let r = p.keel(&["services", "logs", "web", "--lines", "200"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        if r.stdout.contains("response:200") || Instant::now() > deadline {
            break r.stdout;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        logs.contains(&format!("[stdout] container {container} says hello")),
        "{logs}"
    );
    assert!(
        logs.contains("[stderr]") && logs.contains("response:200"),
        "{logs}"
    );

    let began = Instant::now();
    let r = p.keel(&["services", "stop", "web"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let took = began.elapsed();
    assert_eq!(p.status("web")["status"], "stopped");
    assert_eq!(
        containers_named(&container),
        Vec::<String>::new(),
        "no container is left"
    );
    // httpd stops on the forwarded SIGTERM (under --init): no wait for a kill.
    assert!(took < Duration::from_secs(3), "stop took {took:?}");
    assert!(
        p.log("web")
            .contains(&format!("docker stop --time 3 {container}"))
    );
}

#[test]
fn a_container_killed_from_outside_is_restarted_by_keels_policy() {
    if !engine() {
        return;
    }
    let container = unique("keel-test-killed");
    let _cleanup = Cleanup(vec![container.clone()]);
    let p = Platform::new(&httpd_service("web", &container, free_port(), ""));
    let r = p.keel(&["services", "start", "web"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let first = containers_named(&container);
    assert_eq!(first.len(), 1);
    let before = pid(&p.status("web"));

    let out = Command::new("docker")
        .args(["kill", &container])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let s = p.wait_for("web", Duration::from_secs(30), |s| {
        s["restarts"] == 1 && s["status"] == "running" && s["health"]["state"] == "healthy"
    });
    assert_eq!(
        s["last_exit"]["code"], 137,
        "docker run exits as the killed container: {s}"
    );
    assert_ne!(pid(&s), before);
    let now = containers_named(&container);
    assert_eq!(now.len(), 1, "exactly one container: {now:?}");
    assert_ne!(now, first, "a new container replaced the killed one");
}

#[test]
fn after_the_daemon_is_sigkilled_the_running_container_is_re_adopted() {
    if !engine() {
        return;
    }
    let container = unique("keel-test-adopt");
    let _cleanup = Cleanup(vec![container.clone()]);
    let service = unique("adopt").replace('-', "_");
    let p = Platform::new(&httpd_service(&service, &container, free_port(), ""));
    let r = p.keel(&["services", "start", &service]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let id = containers_named(&container);
    let before = pid(&p.status(&service));

    let daemon = p.daemon_pid().expect("a daemon");
    Command::new("kill")
        .args(["-9", &daemon.to_string()])
        .status()
        .unwrap();
    p.wait_daemon_gone(daemon);

    // The next command starts a new daemon, which adopts the `docker run` still running.
    let s = p.wait_for(&service, Duration::from_secs(15), |s| {
        s["status"] == "running" && s["health"]["state"] == "healthy"
    });
    assert_ne!(p.daemon_pid(), Some(daemon));
    assert_eq!(
        pid(&s),
        before,
        "the running docker run is adopted, not replaced"
    );
    assert_eq!(s["restarts"], 0, "{s}");
    assert_eq!(containers_named(&container), id, "the same container");
    let labelled = docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=keel.service={service}"),
        "--format",
        "{{.ID}}",
    ]);
    assert_eq!(
        labelled.split_whitespace().count(),
        1,
        "no second container"
    );
    assert!(
        p.log(&service)
            .contains(&format!("re-adopted pid {before}"))
    );

    let r = p.keel(&["services", "stop", &service]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(containers_named(&container), Vec::<String>::new());
}

#[test]
fn a_missing_image_is_reported_by_pre_flight() {
    if !engine() {
        return;
    }
    let container = unique("keel-test-missing");
    let _cleanup = Cleanup(vec![container.clone()]);
    let missing = format!("{}:404", unique("keel-no-such-image"));
    let config = httpd_service("web", &container, free_port(), "").replace(IMAGE, &missing);
    let p = Platform::new(&config);

    let r = p.keel(&["services", "validate"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let expected = format!("Image not found locally: {missing}");
    assert!(r.stdout.contains(&expected), "{}", r.stdout);
    assert!(
        r.stdout.contains("services.web.deployment.docker"),
        "the finding names the table: {}",
        r.stdout
    );

    let r = p.keel(&["services", "start", "web"]);
    assert_ne!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let out = format!("{}{}", r.stdout, r.stderr);
    assert!(out.contains(&expected), "{out}");
    assert_ne!(p.status("web")["status"], "running");
    assert_eq!(containers_named(&container), Vec::<String>::new());
}

#[test]
fn a_container_of_the_same_name_that_keel_does_not_own_is_a_conflict() {
    if !engine() {
        return;
    }
    let container = unique("keel-test-foreign");
    let _cleanup = Cleanup(vec![container.clone()]);
    let created = Command::new("docker")
        .args(["create", "--name", &container, IMAGE, "sleep", "1"])
        .output()
        .unwrap();
    assert!(created.status.success(), "{created:?}");
    let foreign = containers_named(&container);
    let p = Platform::new(&httpd_service("web", &container, free_port(), ""));

    let r = p.keel(&["services", "validate"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "Container name conflict: a container named {container} already exists"
        )),
        "{}",
        r.stdout
    );
    let r = p.keel(&["services", "start", "web"]);
    assert_ne!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        format!("{}{}", r.stdout, r.stderr).contains("Container name conflict"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    assert_eq!(containers_named(&container), foreign, "left untouched");
}

#[test]
fn dockers_restart_policy_is_refused_in_favour_of_keels() {
    let p = Platform::new(
        &httpd_service("web", "keel-test-policy", 1, "")
            .replace("stop_timeout = 3", "restart_policy = \"unless-stopped\""),
    );
    let r = p.keel(&["services", "validate"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(
            "services.web.deployment.docker.restart_policy: Keel restarts the container itself"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("set restart = \"always\""),
        "{}",
        r.stdout
    );
}

/// A compose file with two busybox httpd services on the given ports.
fn compose_file(backend: u16, frontend: u16) -> String {
    let service = |name: &str, port: u16| {
        format!(
            "  {name}:\n    image: {IMAGE}\n    init: true\n    ports: [\"127.0.0.1:{port}:80\"]\n    \
             command: [\"sh\", \"-c\", \"echo {name} is up; exec httpd -f -v -p 80 -h /www\"]\n"
        )
    };
    format!(
        "version: \"3.7\"\nservices:\n{}{}",
        service("backend", backend),
        service("frontend", frontend)
    )
}

fn compose_service(name: &str, service: &str, project: &str, port: u16, extra: &str) -> String {
    format!(
        r#"
[services.{name}]
{extra}
[services.{name}.deployment]
mode = "docker-compose"
[services.{name}.deployment.docker_compose]
compose_file = "docker-compose.yaml"
service_name = "{service}"
project_name = "{project}"
stop_timeout = 3
[services.{name}.health_check]
type = "http"
interval = 0.5
[services.{name}.health_check.http]
endpoint = "http://127.0.0.1:{port}/health"
[services.{name}.startup]
start_timeout = 60
"#
    )
}

/// `docker-compose down` (or `docker compose down`) of a project when a test ends.
struct ComposeDown {
    file: std::path::PathBuf,
    project: String,
}

impl Drop for ComposeDown {
    fn drop(&mut self) {
        let file = self.file.to_str().unwrap();
        let v2 = Command::new("docker")
            .args(["compose", "version"])
            .output()
            .is_ok_and(|o| o.status.success());
        let mut c = if v2 {
            let mut c = Command::new("docker");
            c.arg("compose");
            c
        } else {
            Command::new("docker-compose")
        };
        let _ = c
            .args(["-f", file, "-p", &self.project, "down", "-t", "1"])
            .output();
    }
}

fn running_in_project(project: &str) -> Vec<String> {
    docker(&[
        "ps",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
        "--format",
        "{{.Names}}",
    ])
    .split_whitespace()
    .map(String::from)
    .collect()
}

#[test]
fn compose_services_start_in_keels_dependency_order_and_stop() {
    if !engine() {
        return;
    }
    let project = unique("keeltest").replace('-', "");
    let (b, f) = (free_port(), free_port());
    let config = [
        compose_service("backend", "backend", &project, b, ""),
        compose_service(
            "frontend",
            "frontend",
            &project,
            f,
            "dependencies = [\"backend\"]",
        ),
    ]
    .concat();
    let p = Platform::new(&config);
    let file = p.dir.path().join("docker-compose.yaml");
    std::fs::write(&file, compose_file(b, f)).unwrap();
    let _down = ComposeDown {
        file: file.clone(),
        project: project.clone(),
    };

    let r = p.keel(&["platform", "start"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    for name in ["backend", "frontend"] {
        let s = p.status(name);
        assert_eq!(s["status"], "running", "{s}");
        assert_eq!(s["health"]["state"], "healthy", "{s}");
    }
    // Keel, not compose, ordered them: frontend was launched after backend was healthy.
    let at = |name: &str, needle: &str| {
        let log = p.log(name);
        log.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in {name}'s log:\n{log}"))
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    assert!(
        at("backend", "health: healthy") <= at("frontend", "started pid"),
        "frontend started before backend was healthy"
    );
    let mut running = running_in_project(&project);
    running.sort();
    assert_eq!(running.len(), 2, "{running:?}");
    // Each service's own output is in its own log.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !p.log("frontend").contains("frontend is up") {
        assert!(Instant::now() < deadline, "{}", p.log("frontend"));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!p.log("frontend").contains("backend is up"));
    assert!(
        p.log("backend").contains("backend is up"),
        "{}",
        p.log("backend")
    );

    // Stopping the dependency alone is refused while frontend runs; the platform stops both.
    let r = p.keel(&["services", "stop", "backend"]);
    assert_ne!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = p.keel(&["platform", "stop"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(p.status("backend")["status"], "stopped");
    assert_eq!(p.status("frontend")["status"], "stopped");
    assert_eq!(running_in_project(&project), Vec::<String>::new());
}

#[test]
fn compose_pre_flight_checks_the_file_and_the_service() {
    if !engine() {
        return;
    }
    let project = unique("keeltest").replace('-', "");
    let config = [
        compose_service("good", "backend", &project, 1, ""),
        compose_service("typo", "backnd", &project, 1, ""),
    ]
    .concat();
    let p = Platform::new(&config);
    let r = p.keel(&["services", "validate"]);
    assert_eq!(r.code, 1, "no compose file yet: {}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Compose file not found:"), "{}", r.stdout);

    std::fs::write(p.dir.path().join("docker-compose.yaml"), compose_file(1, 2)).unwrap();
    let r = p.keel(&["services", "validate"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("has no service \"backnd\"; it defines: backend, frontend"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("Valid: 1"), "{}", r.stdout);
}

#[test]
fn the_demo_platform_comes_up_healthy_in_dependency_order() {
    if !engine() {
        return;
    }
    let mut p = Platform::new("");
    p.config = repo_root().join("config/platform.toml");
    let _down = ComposeDown {
        file: repo_root().join("config/demo/platform-compose.yaml"),
        project: "keel-demo".into(),
    };
    let _cleanup = Cleanup(vec![
        "keel-demo-coredns".into(),
        "keel-demo-oci-registry".into(),
    ]);

    let r = p.keel(&["services", "validate"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Total services: 7"), "{}", r.stdout);
    let r = p.keel(&["platform", "start"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("Platform started: 7 services ready"),
        "{}",
        r.stdout
    );
    let modes = [
        ("orchestrator", "binary"),
        ("control-center", "binary"),
        ("coredns", "docker"),
        ("gitea", "docker-compose"),
        ("oci-registry", "docker"),
        ("mcp-server", "binary"),
        ("api-gateway", "binary"),
    ];
    for (name, mode) in modes {
        let s = p.status(name);
        assert_eq!(s["status"], "running", "{s}");
        assert_eq!(s["health"]["state"], "healthy", "{s}");
        assert_eq!(s["deployment_mode"], mode, "{s}");
    }
    // api-gateway (level 3) started only after its dependencies were healthy.
    let started = |name: &str| {
        p.log(name)
            .lines()
            .find(|l| l.contains("started pid"))
            .and_then(|l| l.split_whitespace().next().map(String::from))
            .unwrap_or_else(|| panic!("{name} never started"))
    };
    let healthy = |name: &str| {
        p.log(name)
            .lines()
            .find(|l| l.contains("health: healthy"))
            .and_then(|l| l.split_whitespace().next().map(String::from))
            .unwrap_or_else(|| panic!("{name} never healthy"))
    };
    for dep in ["orchestrator", "control-center", "mcp-server"] {
        assert!(healthy(dep) <= started("api-gateway"), "{dep}");
    }
    assert!(healthy("orchestrator") <= started("control-center"));

    let r = p.keel(&["platform", "stop"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(containers_named("keel-demo-coredns").is_empty());
    assert!(running_in_project("keel-demo").is_empty());
}
