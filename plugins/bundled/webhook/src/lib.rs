//! The bundled `webhook` hook: tells a URL about a service's failures and health changes with a
//! JSON POST.
//!
//! ```toml
//! [[services.web.hooks]]
//! plugin = "webhook"
//! settings = { url = "https://hooks.example/keel", headers = { Authorization = "Bearer ..." } }
//! ```
//!
//! Settings: `url` (required), `phases` (what `phases()` answers; default `on-failed`,
//! `on-unhealthy`, `on-healthy`), `dedup_seconds` (60; 0 sends every event), `timeout_ms` (5000),
//! `headers` (a table of extra request headers).
//!
//! It only notifies: every verdict is `proceed`. A notification that could not be delivered
//! (no connection, a non-2xx answer, no answer in time) is an `err` that says why in the
//! notification phases, where the hook entry's `on_error` decides how its run reads. In a
//! blocking phase (`on-unhealthy`, and `before-*` when `phases` lists one) it is logged and the
//! verdict is still `proceed`: with `on_error = "fail"` an `err` there would count as a veto,
//! and a receiver that is down must never keep an unhealthy service from its restart.
//!
//! A notification that repeats the last one delivered for the service (same phase, same reason)
//! within `dedup_seconds` is not sent again: one message while a crash-looping service keeps
//! failing the same way. Any other notification in between ends the repetition, so a service
//! that turns unhealthy, healthy and unhealthy again is reported each time (de-duplicating each
//! kind on its own would swallow the second `on-healthy` and leave the receiver believing the
//! service is still down). The last notification per service is kept in the host's `store`, so
//! this holds across daemon restarts; without the store grant every event is sent, and the
//! plugin says so once in its log. Only a delivered notification is recorded, so a failed one
//! is tried again on the next event.

use std::sync::atomic::{AtomicBool, Ordering};

use keel_plugin_sdk::host::{self, HostError, Level};
use keel_plugin_sdk::json::{self, Object};
use keel_plugin_sdk::lifecycle::{Decision, Event, ExitStatus, Phase};
use keel_plugin_sdk::types::{Capability, ServiceInfo};
use keel_plugin_sdk::{Hook, PHASE_NAMES, Reader, Settings, fnv1a, host_error_text, store};
use keel_plugin_sdk_http::{Url, header_problem, post};

const DEFAULT_PHASES: [Phase; 3] = [Phase::OnFailed, Phase::OnUnhealthy, Phase::OnHealthy];

/// Store keys of the last notification sent per URL and service start with this; the value is
/// `UNTIL FINGERPRINT`: when its de-duplication window ends (Unix ms, decimal), so any entry can
/// tell an expired record from a live one, and the hash of its phase and reason (hex).
const SENT_PREFIX: &str = "last/";
/// Expired records are cleared once the plugin keeps more than this many (the store allows a
/// plugin 1,024 keys).
const PRUNE_ABOVE: usize = 256;

struct Config {
    /// A placeholder when the setting is missing or wrong (a problem is recorded then).
    url: Url,
    phases: Vec<Phase>,
    dedup_ms: u64,
    timeout_ms: u32,
    headers: Vec<(String, String)>,
}

impl Settings for Config {
    fn read(r: &mut Reader) -> Config {
        let url = r.required_string("url");
        let phases = r.list_of("phases", &PHASE_NAMES);
        let dedup_seconds = r.integer("dedup_seconds", 0, 7 * 86_400).unwrap_or(60);
        let timeout_ms = r.integer("timeout_ms", 100, 60_000).unwrap_or(5_000) as u32;
        let headers = r.string_table("headers").unwrap_or_default();

        let url = match url.map(|u| Url::parse(&u)) {
            Some(Ok(url)) => url,
            Some(Err(message)) => {
                r.problem("url", message);
                Url::default()
            }
            None => Url::default(),
        };
        let phases = match phases {
            Some(names) if names.is_empty() => {
                r.problem(
                    "phases",
                    "expected at least one phase, found an empty array",
                );
                Vec::new()
            }
            Some(names) => names.iter().filter_map(|n| Phase::named(n)).collect(),
            None => DEFAULT_PHASES.to_vec(),
        };
        for (name, value) in &headers {
            if let Some(message) = header_problem(name, value) {
                r.problem("headers", message);
            }
        }
        Config {
            url,
            phases,
            dedup_ms: dedup_seconds as u64 * 1000,
            timeout_ms,
            headers,
        }
    }

    fn needs(&self) -> Vec<Capability> {
        vec![Capability::Network(self.url.network())]
    }
}

impl Hook for Config {
    const NAME: &'static str = "webhook";
    const DESCRIPTION: &'static str = "Posts JSON to a URL when a service fails or its health changes; a \
                          notification that repeats the service's last one is sent at most once \
                          per dedup_seconds (kept in the store when granted)";

    fn phases(&self) -> Vec<Phase> {
        self.phases.clone()
    }

    fn phases_of_invalid_settings() -> Vec<Phase> {
        DEFAULT_PHASES.to_vec()
    }

    fn run(&self, service: &ServiceInfo, event: &Event) -> Result<Decision, String> {
        let config = self;
        let record = (config.dedup_ms > 0).then(|| {
            let hash = fnv1a(&[config.url.to_string().as_bytes(), service.name.as_bytes()]);
            format!("{SENT_PREFIX}{hash:016x}")
        });
        let fingerprint = fnv1a(&[
            event.phase.name().as_bytes(),
            b"\n",
            event.reason.as_bytes(),
        ]);
        if let Some(key) = &record
            && let Some((until, last)) = last_sent(key)
            && until > event.time_ms
            && last == fingerprint
        {
            host::log(
                Level::Debug,
                &format!(
                    "{} {} not sent again: the same notification went out less than {} s ago",
                    service.name,
                    event.phase.name(),
                    config.dedup_ms / 1000
                ),
            );
            return Ok(Decision::proceed());
        }

        let body = payload(service, event);
        if let Err(why) = deliver(&config, &body) {
            if !event.phase.blocks() {
                return Err(why);
            }
            host::log(
                Level::Warn,
                &format!(
                    "{why}; {} {} not delivered (in a blocking phase the verdict is still proceed)",
                    service.name,
                    event.phase.name()
                ),
            );
            return Ok(Decision::proceed());
        }
        if let Some(key) = &record {
            remember(
                key,
                event.time_ms + config.dedup_ms,
                fingerprint,
                event.time_ms,
            );
        }
        Ok(Decision::proceed())
    }
}

keel_plugin_sdk::lifecycle_hook!(Config);

/// POSTs `body` to the configured URL; an error says why it was not delivered.
fn deliver(config: &Config, body: &str) -> Result<(), String> {
    let response = post(
        &config.url,
        &config.headers,
        "application/json",
        body.as_bytes(),
        config.timeout_ms,
        4096,
    )
    .map_err(|why| format!("POST {} failed: {why}", config.url))?;
    if !response.success() {
        let excerpt = response.excerpt();
        let excerpt = if excerpt.is_empty() {
            String::new()
        } else {
            format!(": {excerpt}")
        };
        return Err(format!(
            "POST {} answered HTTP {}{excerpt}",
            config.url, response.status
        ));
    }
    Ok(())
}

/// Set once the plugin has said that it works without the store.
static SAID_NO_STORE: AtomicBool = AtomicBool::new(false);

/// Reports a store error: a denial once (the grant does not change while the daemon runs),
/// anything else each time.
fn store_trouble(error: &HostError) {
    match error {
        HostError::Denied(_) => {
            if !SAID_NO_STORE.swap(true, Ordering::Relaxed) {
                host::log(
                    Level::Warn,
                    &format!(
                        "the store is not granted ({}), so notifications are not de-duplicated: \
                         every event is sent",
                        host_error_text(error)
                    ),
                );
            }
        }
        _ => host::log(
            Level::Warn,
            &format!(
                "the store failed ({}); sending without de-duplication",
                host_error_text(error)
            ),
        ),
    }
}

/// A stored record: until when (Unix ms) it counts, and the fingerprint of what was sent.
fn parse_record(value: &[u8]) -> Option<(u64, u64)> {
    let (until, fingerprint) = std::str::from_utf8(value).ok()?.split_once(' ')?;
    Some((
        until.parse().ok()?,
        u64::from_str_radix(fingerprint, 16).ok()?,
    ))
}

/// The last notification delivered under `key`, if one was.
fn last_sent(key: &str) -> Option<(u64, u64)> {
    match store::get(key) {
        Ok(Some(value)) => parse_record(&value),
        Ok(None) => None,
        Err(e) => {
            store_trouble(&e);
            None
        }
    }
}

/// Records a delivered notification, and clears expired records when there are many.
fn remember(key: &str, until_ms: u64, fingerprint: u64, now_ms: u64) {
    let value = format!("{until_ms} {fingerprint:016x}");
    if let Err(e) = store::set(key, value.as_bytes()) {
        store_trouble(&e);
        return;
    }
    let Ok(keys) = store::keys(SENT_PREFIX) else {
        return;
    };
    if keys.len() <= PRUNE_ABOVE {
        return;
    }
    for old in keys {
        let expired = match store::get(&old) {
            Ok(Some(value)) => parse_record(&value).is_none_or(|(until, _)| until <= now_ms),
            _ => false,
        };
        if expired {
            let _ = store::delete(&old);
        }
    }
}

/// The JSON body: the event, named as in the control API where it has the same thing
/// (`last_exit` is `{"code": N}`, `{"signal": "SIGKILL"}` or `"unknown"`), plus `text`, one
/// line for chat webhooks that show a `text` field.
fn payload(service: &ServiceInfo, event: &Event) -> String {
    let phase = event.phase.name();
    let last_exit = event.last_exit.as_ref().map(|exit| match exit {
        ExitStatus::Code(code) => {
            let mut o = Object::new();
            o.integer("code", *code);
            o.finish()
        }
        ExitStatus::Signal(signal) => {
            let mut o = Object::new();
            o.string("signal", signal);
            o.finish()
        }
        ExitStatus::Unknown => "\"unknown\"".to_string(),
    });
    let mut endpoints = String::from("[");
    for (i, endpoint) in event.endpoints.iter().enumerate() {
        if i > 0 {
            endpoints.push(',');
        }
        json::write_string(&mut endpoints, endpoint);
    }
    endpoints.push(']');
    let text = if event.reason.is_empty() {
        format!("{}: {phase}", service.name)
    } else {
        format!("{}: {phase}: {}", service.name, event.reason)
    };

    let mut o = Object::new();
    o.string("service", &service.name)
        .string("phase", phase)
        .string("cause", event.cause.name())
        .string("time", &rfc3339(event.time_ms))
        .integer("time_ms", event.time_ms)
        .opt_integer("pid", event.pid)
        .integer("attempt", event.attempt)
        .integer("restarts", event.restarts);
    match &last_exit {
        Some(json) => o.raw("last_exit", json),
        None => o.null("last_exit"),
    };
    o.opt_integer("uptime_ms", event.uptime_ms)
        .opt_string("health_message", event.health_message.as_deref())
        .integer("consecutive_failures", event.consecutive_failures)
        .raw("endpoints", &endpoints)
        .string("reason", &event.reason)
        .string("text", &text);
    o.finish()
}

/// Unix milliseconds as RFC 3339 UTC, e.g. `2026-12-07T18:48:19.123Z`.
fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's days-to-civil, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ms % 1000
    )
}
