//! The JSON Schema of services.toml (`keel config schema`), for editors that check and complete
//! TOML against one (Taplo, Even Better TOML).
//!
//! The parser walks a spanned tree rather than deserializing a serde model (so that it can
//! report every problem with its location), so the schema is derived (schemars) from the
//! dedicated types below, which describe the file as the parser reads it. A test keeps each
//! type's keys equal to the key list the parser accepts for that table.
//!
//! What a plugin owns (a deployment mode's or check type's own table) is only "a table" here:
//! its keys are the plugin's to check. Where the parser rejects unknown keys, the schema does
//! too (`additionalProperties: false`); the one exception is a table named after a third-party
//! mode or check type, which the schema allows beside one that is not standard.

use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::{Value, json};

use super::full_form::{CHECK_KEYS, STANDARD_CHECKS, STANDARD_MODES};
use super::model::ServiceType;
use super::notify::{NOTIFY, POLLING_KEYS};

/// The schema, as a JSON document.
pub fn json_schema() -> Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let mut schema = generator.into_root_schema_for::<File>().to_value();
    drop_null(&mut schema);
    schema
}

/// A services.toml.
#[derive(JsonSchema)]
#[schemars(
    title = "Keel services.toml",
    deny_unknown_fields,
    description = "Keel's services file: services in the full form ([services.NAME]) or the short form ([[service]]), [orchestrator], [plugins] and [[hooks]]."
)]
#[allow(dead_code)]
struct File {
    /// Services in the full form: `[services.NAME]`.
    #[schemars(extend("propertyNames" = { "pattern": NAME_PATTERN }))]
    services: Option<BTreeMap<String, Service>>,
    /// Services in the service registry's short form: `[[service]]`.
    service: Option<Vec<ShortService>>,
    orchestrator: Option<Orchestrator>,
    plugins: Option<Plugins>,
    /// Hooks run for every service, before the service's own.
    hooks: Option<Vec<Hook>>,
}

/// What a service name may be: it names PID and log files.
const NAME_PATTERN: &str = "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$";

/// `[services.NAME]`.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct Service {
    /// The service's name again (it must equal the table's).
    name: Option<String>,
    #[serde(rename = "type")]
    service_type: Option<Type>,
    /// Free text (default "general").
    category: Option<String>,
    description: Option<String>,
    /// Operations that need this service (`keel services check OPERATION`).
    #[schemars(extend("uniqueItems" = true))]
    required_for: Option<Vec<String>>,
    /// Services started (and healthy) before this one.
    #[schemars(extend("uniqueItems" = true))]
    dependencies: Option<Vec<String>>,
    /// Services or programs that never run together with this one.
    #[schemars(extend("uniqueItems" = true))]
    conflicts: Option<Vec<String>>,
    deployment: Deployment,
    health_check: Option<HealthCheck>,
    startup: Option<Startup>,
    env_file: Option<EnvFile>,
    /// The service's own hooks, run after the platform-wide ones.
    hooks: Option<Vec<Hook>>,
}

/// `[[hooks]]` and `[[services.NAME.hooks]]`: a hook plugin with its rules.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct Hook {
    /// The hook plugin's name (bundled: webhook, etcd-register; or a third-party plugin's).
    #[schemars(length(min = 1))]
    plugin: String,
    /// The phases it runs in (default: the ones the plugin asks for).
    #[schemars(extend("uniqueItems" = true))]
    phases: Option<Vec<Phase>>,
    /// Seconds one run may take (default 5).
    timeout: Option<Seconds>,
    /// What a failed run means: fail (as a veto) or ignore (as proceed). Default fail.
    on_error: Option<OnErrorRule>,
    /// The plugin's own settings, checked by the plugin.
    settings: Option<PluginOwned>,
}

/// A lifecycle phase's name.
struct Phase;

impl JsonSchema for Phase {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "HookPhase".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let names: Vec<&str> = keel_api::HookPhase::ALL
            .iter()
            .map(|p| p.as_str())
            .collect();
        json_schema!({ "enum": names })
    }
}

/// `on_error = "fail" | "ignore"`.
struct OnErrorRule;

impl JsonSchema for OnErrorRule {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "OnError".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "enum": ["fail", "ignore"] })
    }
}

/// `type = "platform" | "infrastructure" | "utility"` (default utility).
struct Type;

impl JsonSchema for Type {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ServiceType".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "platform | infrastructure | utility (default utility)",
            "enum": ServiceType::NAMES,
        })
    }
}

/// Dotenv files whose variables the service's process gets (relative to this file).
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum EnvFile {
    One(#[schemars(length(min = 1))] String),
    Several(Vec<EnvFilePath>),
}

#[derive(JsonSchema)]
#[allow(dead_code)]
struct EnvFilePath(#[schemars(length(min = 1))] String);

/// `[services.NAME.deployment]`: the mode and the mode's own table.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields, transform = selector_keys_only_when_standard::<Deployment>)]
#[allow(dead_code)]
struct Deployment {
    /// binary | docker | docker-compose | kubernetes | remote | a plugin's name
    #[schemars(length(min = 1))]
    mode: String,
    binary: Option<PluginOwned>,
    docker: Option<PluginOwned>,
    #[serde(rename = "docker-compose")]
    docker_compose_dashed: Option<PluginOwned>,
    docker_compose: Option<PluginOwned>,
    kubernetes: Option<PluginOwned>,
    remote: Option<PluginOwned>,
}

/// `[services.NAME.health_check]`: the common fields and the check type's own table.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields, transform = selector_keys_only_when_standard::<HealthCheck>)]
#[allow(dead_code)]
struct HealthCheck {
    /// http | tcp | command | file | unix | notify | none | a plugin's name
    #[serde(rename = "type")]
    #[schemars(length(min = 1))]
    check_type: String,
    /// Seconds between checks (default 10).
    interval: Option<Seconds>,
    /// Consecutive failures before unhealthy (default 3).
    #[schemars(range(min = 1, max = 1000))]
    retries: Option<u32>,
    /// Seconds a check may take (default 5).
    timeout: Option<Seconds>,
    http: Option<PluginOwned>,
    tcp: Option<PluginOwned>,
    command: Option<PluginOwned>,
    file: Option<PluginOwned>,
    unix: Option<PluginOwned>,
    notify: Option<Notify>,
}

/// `[services.NAME.health_check.notify]`: how a service that reports its own readiness does
/// (through `NOTIFY_SOCKET`, which it always gets, or a descriptor).
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct Notify {
    /// Seconds a ready service may go without sending WATCHDOG=1 (exported as WATCHDOG_USEC); none by default.
    watchdog: Option<Seconds>,
    /// s6's notification-fd: the descriptor the service writes a newline to once it is ready.
    #[schemars(range(min = 3, max = 1023))]
    notification_fd: Option<u16>,
}

/// A deployment mode's or check type's own table: its plugin checks the keys.
struct PluginOwned;

impl JsonSchema for PluginOwned {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PluginTable".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "The mode's or check type's own settings, checked by its plugin.",
            "type": "object",
        })
    }
}

/// `[services.NAME.startup]`.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields, transform = one_restart_key)]
#[allow(dead_code)]
struct Startup {
    /// Started by `platform start` (default true).
    auto_start: Option<bool>,
    /// Seconds to become healthy (default 30).
    start_timeout: Option<Seconds>,
    /// Tie-breaker among services that can start together (default 100).
    #[schemars(range(min = -1_000_000, max = 1_000_000))]
    start_order: Option<i64>,
    /// true: on-failure; false: never.
    restart_on_failure: Option<bool>,
    restart: Option<Restart>,
    /// Restarts allowed within restart_window before the service is failed (default 3).
    #[schemars(range(max = 1_000_000))]
    max_restarts: Option<u32>,
    /// Seconds (default 60).
    restart_window: Option<Seconds>,
    /// Exit codes that on-failure counts as success (default [0]).
    success_exit_codes: Option<Vec<ExitCode>>,
    /// Seconds from the stop signal to SIGKILL (default 10).
    stop_timeout: Option<Seconds>,
    /// Seconds before the second restart in a row, doubling after (default 0.1).
    restart_delay: Option<SecondsOrZero>,
    /// The longest wait between restarts, in seconds (default 10).
    max_restart_delay: Option<SecondsOrZero>,
    /// A run this many seconds long makes the next restart immediate (default 5).
    stable_run: Option<SecondsOrZero>,
}

#[derive(JsonSchema)]
#[allow(dead_code)]
struct ExitCode(#[schemars(range(min = 0, max = 255))] u8);

/// A positive number of seconds (fractions allowed).
struct Seconds;

impl JsonSchema for Seconds {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Seconds".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "number", "exclusiveMinimum": 0, "maximum": 31_536_000 })
    }
}

/// A number of seconds that may be zero.
struct SecondsOrZero;

impl JsonSchema for SecondsOrZero {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SecondsOrZero".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "number", "minimum": 0, "maximum": 31_536_000 })
    }
}

/// The restart policy as either document writes it: any case, `-` and `_` ignored.
struct Restart;

impl JsonSchema for Restart {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RestartPolicy".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // The parser lower-cases and drops `-` and `_` before it compares: the pattern accepts
        // exactly that; the enum is there for editors to offer.
        let words: Vec<String> = ["always", "onfailure", "never", "no"]
            .iter()
            .map(|w| {
                w.chars()
                    .map(|c| format!("[{}{}][-_]*", c.to_ascii_uppercase(), c))
                    .collect()
            })
            .collect();
        let pattern = format!("^[-_]*({})$", words.join("|"));
        json_schema!({
            "description": "always | on-failure | never (default on-failure); also Always, OnFailure, Never",
            "type": "string",
            "anyOf": [
                { "enum": ["always", "on-failure", "never", "Always", "OnFailure", "Never"] },
                { "pattern": pattern },
            ],
        })
    }
}

/// `[[service]]`: the service registry's short form.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct ShortService {
    #[schemars(regex(pattern = NAME_PATTERN))]
    name: String,
    /// The program and its arguments (binary mode).
    #[schemars(length(min = 1))]
    cmd: Vec<String>,
    restart: Option<Restart>,
    /// "http://…", "https://…", "tcp://HOST:PORT", "unix:/PATH", "cmd:COMMAND" or "notify"
    #[schemars(regex(pattern = "^(https?://.+|unix:.*|cmd:.*|tcp://.*:[0-9]{1,5}|notify)$"))]
    health_check: Option<String>,
    #[schemars(extend("uniqueItems" = true))]
    dependencies: Option<Vec<String>>,
    #[schemars(extend("uniqueItems" = true))]
    conflicts: Option<Vec<String>>,
    #[schemars(extend("uniqueItems" = true))]
    required_for: Option<Vec<String>>,
    description: Option<String>,
    category: Option<String>,
    #[serde(rename = "type")]
    service_type: Option<Type>,
    /// The working directory (relative to this file).
    working_dir: Option<String>,
    /// Environment variables for the process.
    env: Option<BTreeMap<String, String>>,
    auto_start: Option<bool>,
    restart_delay: Option<SecondsOrZero>,
    max_restart_delay: Option<SecondsOrZero>,
    stable_run: Option<SecondsOrZero>,
    env_file: Option<EnvFile>,
    hooks: Option<Vec<Hook>>,
}

/// `[orchestrator]`.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct Orchestrator {
    services: Option<OrchestratorServices>,
}

/// `[orchestrator.services]`.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct OrchestratorServices {
    /// `services start NAME` starts missing dependencies first (default true).
    auto_start_dependencies: Option<bool>,
}

/// `[plugins]`.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct Plugins {
    /// The directory of third-party .wasm plugins (relative to this file).
    dir: Option<String>,
    /// What the operator grants each plugin, by plugin name.
    grants: Option<BTreeMap<String, Grant>>,
}

/// `[plugins.grants.NAME]`.
#[derive(JsonSchema)]
#[schemars(deny_unknown_fields)]
#[allow(dead_code)]
struct Grant {
    /// "host:port" patterns the plugin may connect to.
    #[schemars(extend("uniqueItems" = true))]
    network: Option<Vec<String>>,
    #[schemars(extend("uniqueItems" = true))]
    commands: Option<Vec<String>>,
    #[schemars(extend("uniqueItems" = true))]
    paths: Option<Vec<String>>,
    #[schemars(extend("uniqueItems" = true))]
    unix_sockets: Option<Vec<String>>,
    #[schemars(extend("uniqueItems" = true))]
    env: Option<Vec<String>>,
    #[schemars(range(min = 1, max = 65_536))]
    memory_mb: Option<u32>,
    #[schemars(range(min = 1, max = 3_600_000))]
    timeout_ms: Option<u64>,
    /// The plugin's own durable key-value store (hooks).
    store: Option<bool>,
    /// A read-only view of the services (hooks).
    services: Option<bool>,
    /// Directories the plugin may write files under (relative to this file).
    #[schemars(extend("uniqueItems" = true))]
    write_paths: Option<Vec<String>>,
}

/// The tables that may sit beside a selector (`mode`, `type`).
trait Selector {
    const KEY: &'static str;
    /// The selected plugins for which the parser knows every allowed key.
    fn standard() -> Vec<&'static str>;
}

impl Selector for Deployment {
    const KEY: &'static str = "mode";
    fn standard() -> Vec<&'static str> {
        STANDARD_MODES.to_vec()
    }
}

impl Selector for HealthCheck {
    const KEY: &'static str = "type";
    fn standard() -> Vec<&'static str> {
        STANDARD_CHECKS.iter().copied().chain(["none"]).collect()
    }
}

/// The parser accepts, beside the selector's common keys, the standard plugins' tables and a
/// table named after the selected plugin. A third-party plugin's name is open, so another
/// table is allowed only when the selected plugin is not a standard one; `type = "none"`
/// allows no table at all, and `type = "notify"` no polling key.
fn selector_keys_only_when_standard<T: Selector>(schema: &mut Schema) {
    // `additionalProperties` inside `then` would not see the properties listed here, so the
    // closed case lists the keys by name.
    let known: Vec<String> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    schema.insert("additionalProperties".into(), json!({ "type": "object" }));
    let when = |values: Vec<&str>| json!({ "properties": { T::KEY: { "enum": values } } });
    let mut rules = vec![json!({
        "if": when(T::standard()),
        "then": { "propertyNames": { "enum": known } },
    })];
    if T::KEY == "type" {
        rules.push(json!({
            "if": when(vec!["none"]),
            "then": { "propertyNames": { "enum": CHECK_KEYS } },
        }));
        // A notify check is not polled: it has none of the polling keys.
        rules.push(json!({
            "if": when(vec![NOTIFY]),
            "then": { "propertyNames": { "not": { "enum": POLLING_KEYS } } },
        }));
    }
    schema.insert("allOf".into(), Value::Array(rules));
}

/// The parser refuses `restart` and `restart_on_failure` together.
fn one_restart_key(schema: &mut Schema) {
    schema.insert(
        "not".into(),
        json!({ "required": ["restart", "restart_on_failure"] }),
    );
}

/// TOML has no null: an absent key is how a value is left out, so the `null` that schemars
/// allows for every `Option` goes.
fn drop_null(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".into(), only);
                }
            }
            if let Some(Value::Array(any)) = map.get_mut("anyOf") {
                any.retain(|s| s != &json!({ "type": "null" }));
                if any.len() == 1 {
                    let Value::Object(only) = any.remove(0) else {
                        unreachable!("subschemas are objects")
                    };
                    map.remove("anyOf");
                    map.extend(only);
                }
            }
            map.values_mut().for_each(drop_null);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
