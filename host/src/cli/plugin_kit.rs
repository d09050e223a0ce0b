//! `keel plugins call|install|remove`: what a plugin's author and its installer run. None of
//! them needs a services.toml; when one is found, its `[plugins] dir` is where names are looked
//! up and plugins installed.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use super::context::{Context, Exit, Failure, block_on};
use super::fmt::{BOLD, DIM, GREEN, RED, YELLOW, fail_mark, ok_mark, styled};
use super::report::{Report, emit};
use crate::config::{self, GrantSettings};
use crate::plugins::{self, Answer, Call, Installed, KitError, Places, Removed};
use keel_plugin_host::{LogLine, PluginError, PluginSummary, ServiceInfo, Started, Verdict};

/// `keel plugins call`.
#[derive(Debug, Args)]
pub struct CallArgs {
    /// A .wasm file, or a plugin's name (bundled, or in the plugins directory)
    #[arg(add = super::completions::plugins())]
    pub target: String,
    /// describe, validate, needs, check, preflight, start, status, stop, recover, phases, or a
    /// hook phase (before-start, on-healthy, ...)
    pub function: String,
    /// The plugin's settings: a JSON object, or @FILE to read one
    #[arg(long, value_name = "JSON|@FILE")]
    pub settings: Option<String>,
    /// Authority for this call, KIND=VALUE (network=127.0.0.1:6379, command=docker, path=/srv,
    /// unix_socket=PATH, env=VAR, write_path=DIR, store, services, memory_mb=N, timeout_ms=N);
    /// repeatable. Nothing else is granted.
    #[arg(long = "grant", value_name = "KIND=VALUE")]
    pub grants: Vec<String>,
    /// The service name the plugin is told
    #[arg(long, value_name = "NAME", default_value = "plugin-call")]
    pub service: String,
    /// A check's timeout, a hook's deadline, a stop's grace time, in milliseconds
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    pub timeout_ms: u64,
    /// The workload handle for status, stop and recover (what start returned)
    #[arg(long, value_name = "HANDLE")]
    pub handle: Option<String>,
}

/// `keel plugins install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The plugin's .wasm file
    #[arg(value_hint = clap::ValueHint::FilePath)]
    pub file: PathBuf,
    /// Refuse the file unless its sha256 is this (hex)
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,
    /// The plugins directory [default: the config's `[plugins] dir`, else <state>/plugins]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `keel plugins remove`.
#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// The installed plugin's name
    pub name: String,
    /// The plugins directory [default: the config's `[plugins] dir`, else <state>/plugins]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// The plugins directory: `--dir`, the found config's `[plugins] dir`, or `<state>/plugins`
/// (where the daemon looks when the config names none). A config that is found but does not
/// load is an error when `strict` (installing beside the wrong daemon would go unnoticed), and
/// passed over otherwise (a call needs no config).
fn plugin_dir(cx: &Context, flag: Option<PathBuf>, strict: bool) -> Result<PathBuf, Failure> {
    if let Some(dir) = flag {
        return Ok(std::path::absolute(&dir).unwrap_or(dir));
    }
    let configured = match cx.config_path() {
        Err(_) => None,
        Ok(path) => match config::load(&path) {
            Ok(c) => c.plugins.dir,
            Err(e) if strict => return Err(e.into()),
            Err(_) => None,
        },
    };
    match configured {
        Some(dir) => Ok(dir),
        None => Ok(cx.state_dir()?.plugins_dir()),
    }
}

fn kit_failure(e: KitError) -> Failure {
    let (exit, kind) = match &e {
        KitError::Usage(_) => (Exit::Usage, "usage"),
        KitError::Refused(_) => (Exit::Failed, "refused"),
        KitError::Plugin(p) => (Exit::Failed, error_kind(p)),
        KitError::Other(_) => (Exit::Failed, "host"),
    };
    let mut failure = Failure::new(exit, e.to_string());
    let mut details = serde_json::json!({ "kind": kind });
    if let KitError::Plugin(p) = &e
        && let Some(d) = p.diagnostics()
    {
        details["logs"] = serde_json::to_value(&d.logs).unwrap_or_default();
        details["stderr"] = d.stderr.clone().into();
    }
    failure.details = Some(Box::new(details));
    failure
}

/// A plugin's failure in one word, for scripts.
fn error_kind(e: &PluginError) -> &'static str {
    match e {
        PluginError::NotFound { .. } => "not_found",
        PluginError::WrongKind { .. } => "wrong_kind",
        PluginError::Denied { .. } => "denied",
        PluginError::Timeout { .. } => "timeout",
        PluginError::MemoryLimit { .. } => "memory_limit",
        PluginError::Trap { .. } => "trap",
        PluginError::Malformed { .. } => "malformed",
        PluginError::Failed { .. } => "failed",
        PluginError::Host { .. } => "host",
    }
}

pub fn call(cx: &Context, args: CallArgs) -> Result<Exit, Failure> {
    let settings = match &args.settings {
        None => keel_plugin_host::Settings::new(),
        Some(text) => {
            let text = match text.strip_prefix('@') {
                Some(file) => std::fs::read_to_string(file).map_err(|e| {
                    Failure::new(
                        Exit::Usage,
                        format!("cannot read settings from {file}: {e}"),
                    )
                })?,
                None => text.clone(),
            };
            plugins::settings_from_json(&text).map_err(kit_failure)?
        }
    };
    let mut grant = GrantSettings::default();
    for g in &args.grants {
        plugins::add_grant(&mut grant, g).map_err(kit_failure)?;
    }
    let places = Places {
        cache_dir: cx.state_dir()?.plugin_cache(),
        plugin_dir: Some(plugin_dir(cx, None, false)?),
    };
    let call = Call {
        function: args.function.clone(),
        settings,
        service: ServiceInfo {
            name: args.service.clone(),
            config_dir: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
        },
        timeout: Duration::from_millis(args.timeout_ms),
        handle: args.handle.clone(),
    };
    let (plugin, answer) = block_on(async {
        let loaded = plugins::load(&args.target, &places, &grant).await?;
        let answer = plugins::call(&loaded, &call).await;
        Ok::<_, KitError>((loaded.summary.clone(), answer))
    })
    .map_err(kit_failure)?;
    match answer {
        Ok(answer) => Ok(emit(cx.json, &Called { plugin, answer })),
        Err(e) => {
            if !cx.json
                && let KitError::Plugin(p) = &e
                && let Some(d) = p.diagnostics()
            {
                // The error's text carries the stderr tail; the log lines are shown here.
                anstream::eprint!("{}", left_behind(&d.logs, ""));
            }
            Err(kit_failure(e))
        }
    }
}

/// `plugins call`'s answer.
#[derive(Serialize)]
struct Called {
    plugin: PluginSummary,
    #[serde(flatten)]
    answer: Answer,
}

impl Report for Called {
    fn text(&self) -> String {
        let p = &self.plugin;
        let mut out = format!(
            "{} {} {}\n",
            styled(BOLD, &p.name),
            p.version,
            styled(DIM, format!("({}, keel:plugin@{})", p.kind, p.wit_version))
        );
        let (logs, stderr) = match &self.answer {
            Answer::Describe(d) => {
                let text = d.description.as_deref().unwrap_or_default();
                out += &format!("{text}\nsource: {}\nsha256: {}\n", d.source, d.sha256);
                out += "can ask for:";
                if d.capabilities.is_empty() {
                    out += " nothing";
                }
                out += "\n";
                for c in &d.capabilities {
                    out += &format!("  - {} (through {})\n", c.kind, c.via);
                }
                (&[][..], "")
            }
            Answer::Validate(problems) if problems.is_empty() => {
                out += &format!("{} settings are valid\n", ok_mark());
                (&[][..], "")
            }
            Answer::Validate(problems) => {
                for pr in problems {
                    let key = if pr.key.is_empty() {
                        "(table)"
                    } else {
                        &pr.key
                    };
                    out += &format!("{} {key}: {}\n", fail_mark(), pr.message);
                }
                (&[][..], "")
            }
            Answer::Needs { needs, denied } => {
                if needs.is_empty() {
                    out += "needs: nothing\n";
                }
                for n in needs {
                    out += &format!("needs: {n}\n");
                }
                match denied {
                    None => out += &format!("{} granted\n", ok_mark()),
                    Some(why) => out += &format!("{} {why}\n", fail_mark()),
                }
                (&[][..], "")
            }
            Answer::Check(c) => {
                let verdict = if c.healthy {
                    styled(GREEN, "healthy")
                } else {
                    styled(RED, "unhealthy")
                };
                out += &format!("{verdict}: {} {}\n", c.message, took(c.duration));
                (&c.logs[..], c.stderr.as_str())
            }
            Answer::Preflight(r) => {
                for f in &r.value {
                    let mark = if f.ok { ok_mark() } else { fail_mark() };
                    out += &format!("{mark} {}\n", f.message);
                }
                out += &format!("{}\n", took(r.duration));
                (&r.logs[..], r.stderr.as_str())
            }
            Answer::Start(r) => {
                match &r.value {
                    Started::Launch(l) => {
                        out += &format!("launch: {} {}\n", l.program, l.args.join(" "));
                        for (k, v) in &l.env {
                            out += &format!("  env {k}={v}\n");
                        }
                        if let Some(d) = &l.working_dir {
                            out += &format!("  working dir: {d}\n");
                        }
                        if let Some(s) = &l.stop_signal {
                            out += &format!("  stop signal: {s}\n");
                        }
                        if let Some(c) = &l.stop_command {
                            out += &format!("  stop command: {}\n", c.join(" "));
                        }
                    }
                    Started::Handle(h) => out += &format!("handle: {h}\n"),
                }
                (&r.logs[..], r.stderr.as_str())
            }
            Answer::Status(r) => {
                out += &format!("{:?}: {}\n", r.value.state, r.value.message);
                (&r.logs[..], r.stderr.as_str())
            }
            Answer::Stop(r) => {
                out += &format!("stopped {}\n", took(r.duration));
                (&r.logs[..], r.stderr.as_str())
            }
            Answer::Recover(r) => {
                match &r.value {
                    Some(h) => out += &format!("still there: {h}\n"),
                    None => out += "gone\n",
                }
                (&r.logs[..], r.stderr.as_str())
            }
            Answer::Phases(phases) => {
                out += &format!("phases: {}\n", phases.join(", "));
                (&[][..], "")
            }
            Answer::Hook { event, reply } => {
                let verdict = match &reply.value.verdict {
                    Verdict::Proceed => styled(GREEN, "proceed"),
                    Verdict::Veto(why) => styled(RED, format!("veto: {why}")),
                    Verdict::Skip(why) => styled(YELLOW, format!("skip: {why}")),
                    Verdict::Delay(d) => styled(YELLOW, format!("delay {d:?}")),
                    Verdict::Suppress(why) => styled(YELLOW, format!("suppress: {why}")),
                };
                out += &format!("event: {} ({:?})\n", event.reason, event.cause);
                out += &format!("{verdict} {}\n", took(reply.duration));
                for (k, v) in &reply.value.env {
                    out += &format!("  env {k}={v}\n");
                }
                (&reply.logs[..], reply.stderr.as_str())
            }
        };
        out + &left_behind(logs, stderr)
    }

    /// "No" answers exit 1, so an author's test can rely on the status alone.
    fn exit(&self) -> Exit {
        let no = match &self.answer {
            Answer::Validate(problems) => !problems.is_empty(),
            Answer::Needs { denied, .. } => denied.is_some(),
            Answer::Check(c) => !c.healthy,
            Answer::Preflight(r) => r.value.iter().any(|f| !f.ok),
            _ => false,
        };
        if no { Exit::Failed } else { Exit::Ok }
    }
}

fn took(d: Duration) -> String {
    styled(DIM, format!("({:.1} ms)", d.as_secs_f64() * 1000.0))
}

/// The plugin's log lines and captured output, as a call left them.
fn left_behind(logs: &[LogLine], stderr: &str) -> String {
    let mut out = String::new();
    for l in logs {
        out += &format!(
            "{} {}\n",
            styled(DIM, format!("log {:?}:", l.level)),
            l.message
        );
    }
    if !stderr.trim().is_empty() {
        out += &format!("{}\n", styled(DIM, "stderr:"));
        for line in stderr.trim_end().lines() {
            out += &format!("  {line}\n");
        }
    }
    out
}

pub fn install(cx: &Context, args: InstallArgs) -> Result<Exit, Failure> {
    let dir = plugin_dir(cx, args.dir, true)?;
    let cache = cx.state_dir()?.plugin_cache();
    let installed = block_on(plugins::install(
        &args.file,
        &dir,
        &cache,
        args.sha256.as_deref(),
    ))
    .map_err(kit_failure)?;
    Ok(emit(cx.json, &installed))
}

impl Report for Installed {
    fn text(&self) -> String {
        let mut out = format!(
            "{} installed {} {} ({}, keel:plugin@{}) as {}\n",
            ok_mark(),
            styled(BOLD, &self.name),
            self.version,
            self.kind,
            self.wit_version,
            self.path.display()
        );
        out += &format!("sha256: {}\n", self.sha256);
        if let Some(old) = &self.replaced {
            out += &format!("replaced: {old}\n");
        }
        out += "can ask for (each request needs a grant in [plugins.grants]):\n";
        if self.capabilities.is_empty() {
            out += "  nothing\n";
        }
        for c in &self.capabilities {
            out += &format!("  - {} (through {})\n", c.kind, c.via);
        }
        out += &format!(
            "{}\n",
            styled(
                DIM,
                "a running daemon loads it at `keel platform reload`; services keep running"
            )
        );
        out
    }
}

pub fn remove(cx: &Context, args: RemoveArgs) -> Result<Exit, Failure> {
    let dir = plugin_dir(cx, args.dir, true)?;
    let removed = plugins::remove(&args.name, &dir).map_err(kit_failure)?;
    Ok(emit(cx.json, &removed))
}

impl Report for Removed {
    fn text(&self) -> String {
        format!(
            "{} removed {} ({})\n{}\n",
            ok_mark(),
            styled(BOLD, &self.name),
            self.path.display(),
            styled(DIM, "a running daemon drops it at `keel platform reload`")
        )
    }
}
