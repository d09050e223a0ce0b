//! The bundled `docker` deployment mode: a container that the host's own supervisor runs in the
//! foreground, as the process `docker run --rm …`.
//!
//! ```toml
//! [services.coredns.deployment.docker]
//! image = "coredns/coredns:1.11.1"
//! container_name = "provisioning-coredns"        # optional, default "keel-<service>"
//! ports = ["5353:53/udp"]                        # optional, `docker run -p`
//! volumes = ["${HOME}/coredns/Corefile:/Corefile:ro"]   # optional, `-v`; ./x is config-relative
//! env = { LOG_LEVEL = "info" }                   # optional, `-e`
//! command = ["-conf", "/Corefile"]               # optional: replaces the image's CMD (or a string)
//! args = ["-dns.port", "53"]                     # optional: appended after `command`
//! entrypoint = "/coredns"                        # optional, `--entrypoint`
//! network = "bridge"                             # optional, `--network`
//! user = "1000:1000"                             # optional, `--user`
//! init = true                                    # optional, the default: `--init` (see below)
//! stop_timeout = 10                              # optional, seconds for `docker stop -t`
//! restart_policy = "no"                          # optional; only "no" (see below)
//! ```
//!
//! How it runs: `start` answers with a launch spec for
//! `docker run --rm --name NAME --label keel.service=SERVICE [-p …] [-v …] [-e …] IMAGE [CMD]`.
//! The supervisor spawns it like any process: the container's output is the client's output and
//! goes to the service's log; when the container ends, `docker run` exits with its exit code
//! (137 when killed), which Keel's restart policy judges; `--rm` has the engine remove the
//! container. The stop command is `docker stop -t stop_timeout NAME` (SIGTERM to the container,
//! SIGKILL after `stop_timeout`); Keel's `[startup] stop_timeout` then bounds the wait for
//! `docker run` to exit. After the daemon is killed, the `docker run` client keeps running in its
//! own session and is re-adopted by PID like any process, so no second container starts.
//!
//! `init` (default true) runs Docker's tiny init as the container's PID 1: a program running as
//! PID 1 gets no default signal handling, so one that installs no SIGTERM handler (busybox
//! httpd, many scripts) would ignore the stop signal that `docker run` forwards. Set
//! `init = false` for images that bring their own init.
//!
//! Who restarts a crashed container: Keel. Docker's own `--restart` would restart the container
//! behind Keel's back (and `docker run` would not exit, so Keel could not see the crash), and it
//! cannot be combined with `--rm`; so `restart_policy` may only be "no", and the service's
//! `[startup] restart` / `restart_on_failure` / `max_restarts` apply.
//!
//! Ownership: every container Keel starts carries the label `keel.service=SERVICE`. `start`
//! removes a leftover container of that name carrying this service's label (an exited one, or
//! one whose `docker run` was killed); a container of that name without the label is not Keel's,
//! and both pre-flight and `start` report the conflict instead of touching it.
//!
//! The plugin calls only the `docker` CLI (through the host's `run-command`), plus `stat-path` on
//! bind-mount sources for the pre-flight.

use keel_plugin_sdk::deployment::{Finding, LaunchSpec, Started, resolve};
use keel_plugin_sdk::host::{self, HostError, PathInfo};
use keel_plugin_sdk::types::{Capability, ServiceInfo};
use keel_plugin_sdk::{Deployment, Settings};
use keel_plugin_sdk::{Ran, Reader, host_error_text, run};

/// The label that marks a container as Keel's, with the service's name as value.
const LABEL: &str = "keel.service";
/// Time allowed for each quick docker CLI call (inspect, version).
const QUICK_MS: u32 = 4_000;

struct Config {
    image: String,
    container_name: Option<String>,
    ports: Vec<String>,
    volumes: Vec<Volume>,
    env: Vec<(String, String)>,
    command: Option<Vec<String>>,
    args: Vec<String>,
    entrypoint: Option<String>,
    network: Option<String>,
    user: Option<String>,
    init: bool,
    stop_timeout: i64,
}

/// One `volumes` entry: `SOURCE:TARGET[:OPTIONS]`.
struct Volume {
    source: String,
    rest: String,
}

impl Volume {
    /// A bind mount's source is a path (it contains a `/`, or is `.`); anything else is the name
    /// of a Docker volume.
    fn is_bind(&self) -> bool {
        self.source.contains('/') || self.source == "." || self.source == ".."
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Checks a `ports` entry: `[IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]`, ports or ranges.
fn check_port(spec: &str) -> Result<(), String> {
    let (mapping, proto) = match spec.rsplit_once('/') {
        Some((m, p)) => (m, Some(p)),
        None => (spec, None),
    };
    if let Some(p) = proto
        && !matches!(p, "tcp" | "udp" | "sctp")
    {
        return Err(format!(
            "unknown protocol {p:?} in {spec:?} (tcp, udp or sctp)"
        ));
    }
    // An IPv6 address is written in brackets: [::1]:8080:80.
    let rest = match mapping.strip_prefix('[') {
        Some(r) => match r.split_once("]:") {
            Some((_, rest)) => rest,
            None => return Err(format!("unclosed [ in {spec:?}")),
        },
        None => mapping,
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let is_port = |p: &str| {
        let mut ends = p.splitn(2, '-');
        ends.all(|e| e.parse::<u16>().is_ok_and(|n| n > 0))
    };
    let ok = match parts.as_slice() {
        [container] => is_port(container),
        [host, container] => is_port(host) && is_port(container),
        [_ip, host, container] => (host.is_empty() || is_port(host)) && is_port(container),
        _ => false,
    };
    if ok && !spec.contains(char::is_whitespace) {
        Ok(())
    } else {
        Err(format!(
            "expected [IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL], e.g. \"8080:80\" or \
             \"127.0.0.1:5353:53/udp\", found {spec:?}"
        ))
    }
}

impl Settings for Config {
    fn read(r: &mut Reader) -> Config {
        let image = r.required_string("image").unwrap_or_default();
        let container_name = r.string("container_name");
        let ports = r.string_array("ports").unwrap_or_default();
        let volumes = r.string_array("volumes").unwrap_or_default();
        let env = r.string_table("env").unwrap_or_default();
        let command = r.command_line("command");
        let args = r.string_array("args").unwrap_or_default();
        let entrypoint = r.string("entrypoint");
        let network = r.string("network");
        let user = r.string("user");
        let init = r.bool("init").unwrap_or(true);
        let stop_timeout = r.integer("stop_timeout", 0, 3600).unwrap_or(10);
        let restart_policy = r.string("restart_policy");

        if image.contains(char::is_whitespace) || image.starts_with('-') {
            r.problem(
                "image",
                format!("expected an image reference such as \"nginx:1.27\", found {image:?}"),
            );
        }
        if let Some(name) = &container_name
            && !valid_name(name)
        {
            r.problem(
                "container_name",
                format!(
                    "expected a container name of letters, digits, '_', '.' and '-' starting \
                     with a letter or digit, found {name:?}"
                ),
            );
        }
        for port in &ports {
            if let Err(why) = check_port(port) {
                r.problem("ports", why);
            }
        }
        let mut parsed = Vec::new();
        for v in &volumes {
            match v.split_once(':') {
                Some((source, rest))
                    if !source.is_empty() && rest.starts_with('/') && !v.contains('\n') =>
                {
                    parsed.push(Volume {
                        source: source.to_string(),
                        rest: rest.to_string(),
                    })
                }
                _ => r.problem(
                    "volumes",
                    format!(
                        "expected SOURCE:/TARGET[:OPTIONS] (a host path or volume name, then an \
                         absolute path in the container), found {v:?}"
                    ),
                ),
            }
        }
        for (name, _) in &env {
            if name.is_empty() || name.contains(['=', '\0']) {
                r.problem(
                    "env",
                    format!("{name:?} is not a valid environment variable name"),
                );
            }
        }
        if entrypoint.as_deref() == Some("") {
            r.problem("entrypoint", "expected a program, found text \"\"");
        }
        if network.as_deref() == Some("") {
            r.problem("network", "expected a network name, found text \"\"");
        }
        if user.as_deref() == Some("") {
            r.problem("user", "expected a user name or UID[:GID], found text \"\"");
        }
        if let Some(policy) = restart_policy
            && !policy.eq_ignore_ascii_case("no")
        {
            let keel = match policy.as_str() {
                "always" | "unless-stopped" => "restart = \"always\"",
                p if p.starts_with("on-failure") => "restart = \"on-failure\"",
                _ => "restart = \"always\" | \"on-failure\" | \"never\"",
            };
            r.problem(
                "restart_policy",
                format!(
                    "Keel restarts the container itself (its `docker run` is a supervised \
                     process), so Docker's restart policy must stay \"no\", found {policy:?}; \
                     set {keel} in the service's [startup] table and remove restart_policy"
                ),
            );
        }
        Config {
            image,
            container_name,
            ports,
            volumes: parsed,
            env,
            command,
            args,
            entrypoint,
            network,
            user,
            init,
            stop_timeout,
        }
    }

    fn needs(&self) -> Vec<Capability> {
        let mut needs = vec![Capability::Command("docker".into())];
        needs.extend(
            self.volumes
                .iter()
                .filter(|v| v.is_bind())
                .map(|v| Capability::Path(v.source.clone())),
        );
        needs
    }
}

impl Config {
    fn name(&self, service: &str) -> String {
        match &self.container_name {
            Some(name) => name.clone(),
            None => format!("keel-{service}"),
        }
    }
}

/// `docker ARGS`, quickly.
fn docker(args: &[&str], timeout_ms: u32) -> Result<Ran, HostError> {
    run("docker", args, timeout_ms)
}

/// Whether the CLI is there and the engine answers: the server's version, or why not.
fn engine() -> Result<String, String> {
    match docker(&["version", "--format", "{{.Server.Version}}"], QUICK_MS) {
        Ok(ran) if ran.success() => Ok(ran.stdout.trim().to_string()),
        Ok(ran) => Err(format!(
            "Docker engine is not running or not reachable: {}",
            ran.first_line()
        )),
        Err(HostError::Failed(why)) if why.contains("No such file") => Err(
            "Docker CLI not found: `docker` is not on the Keel daemon's PATH (install the docker \
             CLI)"
                .to_string(),
        ),
        Err(HostError::TimedOut) => Err(format!(
            "Docker engine did not answer `docker version` within {} s",
            QUICK_MS / 1000
        )),
        Err(e) => Err(format!(
            "Cannot run the Docker CLI: {}",
            host_error_text(&e)
        )),
    }
}

/// A container that exists under some name: its state and the value of Keel's label.
struct Existing {
    state: String,
    owner: String,
}

/// The container named `name`, if any.
fn existing(name: &str) -> Result<Option<Existing>, String> {
    let format = format!("{{{{.State.Status}}}}\t{{{{index .Config.Labels \"{LABEL}\"}}}}");
    let ran = docker(
        &["container", "inspect", "--format", &format, name],
        QUICK_MS,
    )
    .map_err(|e| format!("docker container inspect {name}: {}", host_error_text(&e)))?;
    if !ran.success() {
        if ran.stderr.contains("No such") {
            return Ok(None);
        }
        return Err(format!(
            "docker container inspect {name}: {}",
            ran.first_line()
        ));
    }
    let line = ran.stdout.trim();
    let (state, owner) = line.split_once('\t').unwrap_or((line, ""));
    Ok(Some(Existing {
        state: state.to_string(),
        owner: owner.trim().to_string(),
    }))
}

fn conflict(name: &str, state: &str, service: &str) -> String {
    format!(
        "Container name conflict: a container named {name} already exists ({state}) and is not \
         Keel's (it has no label {LABEL}={service}); remove it (`docker rm -f {name}`) or set \
         another container_name"
    )
}

impl Deployment for Config {
    const NAME: &'static str = "docker";
    const PROCESS: &'static str = "`docker run` process";
    const DESCRIPTION: &'static str =
        "Runs a Docker container in the foreground under the host's supervisor";

    fn preflight(&self, service: &ServiceInfo) -> Vec<Finding> {
        let config = self;
        let mut findings = Vec::new();
        let mut found = |ok: bool, message: String| findings.push(Finding { ok, message });
        match engine() {
            Ok(version) => found(true, format!("Docker engine answers: version {version}")),
            Err(why) => {
                // Nothing else can be asked of an engine that does not answer.
                found(false, why);
                return findings;
            }
        }
        let image = &config.image;
        match docker(
            &["image", "inspect", "--format", "{{.Id}}", image],
            QUICK_MS,
        ) {
            Ok(ran) if ran.success() => {
                let id = ran.stdout.trim();
                let short = id.strip_prefix("sha256:").unwrap_or(id);
                found(
                    true,
                    format!("Image found: {image} ({})", &short[..short.len().min(12)]),
                );
            }
            Ok(ran) if ran.stderr.contains("No such image") => found(
                false,
                format!(
                    "Image not found locally: {image} (pull, load or build it first, e.g. \
                     `docker pull {image}`)"
                ),
            ),
            Ok(ran) => found(
                false,
                format!("Cannot inspect image {image}: {}", ran.first_line()),
            ),
            Err(e) => found(
                false,
                format!("Cannot inspect image {image}: {}", host_error_text(&e)),
            ),
        }
        let name = config.name(&service.name);
        match existing(&name) {
            Ok(None) => found(true, format!("Container name free: {name}")),
            Ok(Some(c)) if c.owner == service.name => found(
                true,
                format!(
                    "Container {name} belongs to this service ({}){}",
                    c.state,
                    if c.state == "running" {
                        ""
                    } else {
                        "; start replaces it"
                    }
                ),
            ),
            Ok(Some(c)) => found(false, conflict(&name, &c.state, &service.name)),
            Err(why) => found(false, why),
        }
        for v in config.volumes.iter().filter(|v| v.is_bind()) {
            let path = resolve(&service, &v.source);
            match host::stat_path(&path) {
                Ok(Some(PathInfo { .. })) => found(true, format!("Volume source found: {path}")),
                Ok(None) => found(
                    false,
                    format!(
                        "Volume source not found: {path} (Docker would mount a new empty \
                         directory there)"
                    ),
                ),
                Err(e) => found(
                    false,
                    format!("Cannot check volume source {path}: {}", host_error_text(&e)),
                ),
            }
        }
        findings
    }

    fn start(&self, service: &ServiceInfo) -> Result<Started, String> {
        let config = self;
        let name = config.name(&service.name);
        match existing(&name)? {
            None => {}
            Some(c) if c.owner == service.name => {
                // An exited container that was not removed, or one whose `docker run` was killed
                // (a forced stop): Keel's own, and not supervised by anyone now.
                host::log(
                    host::Level::Info,
                    &format!("removing the leftover container {name} ({})", c.state),
                );
                let ran = docker(&["rm", "--force", &name], 20_000)
                    .map_err(|e| format!("docker rm {name}: {}", host_error_text(&e)))?;
                if !ran.success() && !ran.stderr.contains("No such") {
                    return Err(format!(
                        "cannot remove the leftover container {name}: {}",
                        ran.first_line()
                    ));
                }
            }
            Some(c) => return Err(conflict(&name, &c.state, &service.name)),
        }

        let mut args: Vec<String> = vec![
            "run".into(),
            "--rm".into(),
            "--name".into(),
            name.clone(),
            "--label".into(),
            format!("{LABEL}={}", service.name),
        ];
        let mut push = |flag: &str, value: String| {
            args.push(flag.to_string());
            args.push(value);
        };
        for port in &config.ports {
            push("--publish", port.clone());
        }
        for v in &config.volumes {
            let source = if v.is_bind() {
                resolve(&service, &v.source)
            } else {
                v.source.clone()
            };
            push("--volume", format!("{source}:{}", v.rest));
        }
        // Only the names go on the command line; `docker run` reads the values from its own
        // environment (the launch spec's env), so they do not show in `ps`.
        for (key, _) in &config.env {
            push("--env", key.clone());
        }
        if let Some(network) = &config.network {
            push("--network", network.clone());
        }
        if let Some(user) = &config.user {
            push("--user", user.clone());
        }
        if let Some(entrypoint) = &config.entrypoint {
            push("--entrypoint", entrypoint.clone());
        }
        if config.init {
            args.push("--init".into());
        }
        args.push(config.image.clone());
        args.extend(config.command.iter().flatten().cloned());
        args.extend(config.args.iter().cloned());

        Ok(Started::Launch(LaunchSpec {
            program: "docker".into(),
            args,
            env: config.env.clone(),
            working_dir: Some(service.config_dir.clone()),
            stop_signal: None,
            stop_command: Some(vec![
                "docker".into(),
                "stop".into(),
                "--time".into(),
                config.stop_timeout.to_string(),
                name,
            ]),
        }))
    }
}

keel_plugin_sdk::deployment!(Config);
