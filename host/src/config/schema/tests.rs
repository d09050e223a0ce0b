use std::collections::BTreeSet;

use serde_json::Value;

use super::json_schema;
use crate::config::full_form::{
    CHECK_KEYS, SERVICE_KEYS, STANDARD_CHECKS, STANDARD_MODES, STARTUP_KEYS,
};
use crate::config::hooks::HOOK_KEYS;
use crate::config::notify::NOTIFY_KEYS;
use crate::config::parse::TOP_KEYS;
use crate::config::settings::{
    GRANT_KEYS, ORCHESTRATOR_KEYS, ORCHESTRATOR_SERVICES_KEYS, PLUGINS_KEYS,
};
use crate::config::short_form::SHORT_KEYS;

fn definition<'a>(schema: &'a Value, name: &str) -> &'a Value {
    if name.is_empty() {
        return schema;
    }
    schema["$defs"]
        .get(name)
        .unwrap_or_else(|| panic!("no definition {name} in {schema:#}"))
}

fn keys(def: &Value) -> BTreeSet<String> {
    def["properties"]
        .as_object()
        .expect("an object's properties")
        .keys()
        .cloned()
        .collect()
}

fn set<'a>(keys: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    keys.into_iter().map(str::to_string).collect()
}

#[test]
fn every_table_has_exactly_the_keys_the_parser_accepts() {
    let schema = json_schema();
    let mut deployment = set(["mode"]);
    deployment.extend(STANDARD_MODES.iter().map(|m| m.to_string()));
    // A table for docker-compose may be written either way.
    deployment.insert("docker_compose".into());
    let mut check = set(CHECK_KEYS);
    check.extend(STANDARD_CHECKS.iter().map(|c| c.to_string()));
    for (name, parser) in [
        ("", set(TOP_KEYS)),
        ("Service", set(SERVICE_KEYS)),
        ("ShortService", set(SHORT_KEYS)),
        ("Startup", set(STARTUP_KEYS)),
        ("Deployment", deployment),
        ("HealthCheck", check),
        ("Orchestrator", set(ORCHESTRATOR_KEYS)),
        ("OrchestratorServices", set(ORCHESTRATOR_SERVICES_KEYS)),
        ("Plugins", set(PLUGINS_KEYS)),
        ("Grant", set(GRANT_KEYS)),
        ("Hook", set(HOOK_KEYS)),
        ("Notify", set(NOTIFY_KEYS)),
    ] {
        assert_eq!(keys(definition(&schema, name)), parser, "table {name:?}");
    }
}

#[test]
fn unknown_keys_are_rejected_where_the_parser_rejects_them() {
    let schema = json_schema();
    for name in [
        "",
        "Service",
        "ShortService",
        "Startup",
        "Orchestrator",
        "OrchestratorServices",
        "Plugins",
        "Grant",
        "Hook",
        "Notify",
    ] {
        assert_eq!(
            definition(&schema, name)["additionalProperties"],
            false,
            "table {name:?}"
        );
    }
    // Beside a selector: closed for the standard plugins, a table for a third-party one.
    for (name, key, standard) in [
        ("Deployment", "mode", "binary"),
        ("HealthCheck", "type", "http"),
    ] {
        let def = definition(&schema, name);
        assert_eq!(def["additionalProperties"]["type"], "object");
        let rule = &def["allOf"][0];
        let listed = rule["if"]["properties"][key]["enum"].as_array().unwrap();
        assert!(listed.iter().any(|v| v == standard), "{rule}");
        let closed: BTreeSet<String> = rule["then"]["propertyNames"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(closed, keys(def), "{rule}");
    }
}

#[test]
fn required_keys_and_no_nulls() {
    let schema = json_schema();
    let required = |name: &str| definition(&schema, name)["required"].clone();
    assert_eq!(required("Service"), serde_json::json!(["deployment"]));
    assert_eq!(required("ShortService"), serde_json::json!(["name", "cmd"]));
    assert_eq!(required("Deployment"), serde_json::json!(["mode"]));
    assert_eq!(required("HealthCheck"), serde_json::json!(["type"]));
    // TOML has no null, so nothing may be null.
    assert!(!schema.to_string().contains("null"), "{schema:#}");
}

#[test]
fn a_notify_check_takes_no_polling_key() {
    let schema = json_schema();
    let rules = definition(&schema, "HealthCheck")["allOf"]
        .as_array()
        .unwrap();
    let notify = rules
        .iter()
        .find(|r| r["if"]["properties"]["type"]["enum"] == serde_json::json!(["notify"]))
        .expect("a rule for type = notify");
    assert_eq!(
        notify["then"]["propertyNames"]["not"]["enum"],
        serde_json::json!(["interval", "retries", "timeout"])
    );
}
