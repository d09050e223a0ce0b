//! The bundled `etcd-register` hook: publishes a healthy service's address in etcd, under a
//! lease, for service discovery, through etcd's v3 JSON gateway (etcd 3.4 and later).
//!
//! ```toml
//! [[services.api.hooks]]
//! plugin = "etcd-register"
//! settings = { endpoint = "http://127.0.0.1:2379" }
//! ```
//!
//! Settings: `endpoint` (etcd's client URL, required), `prefix` (`/keel/services/`), `ttl`
//! (seconds, 10), `address` (the `host:port` to publish; default the first of the event's
//! `endpoints`, i.e. what the service's health check connects to), `timeout_ms` (2000, for each
//! request to etcd).
//!
//! * `on-healthy`: grants a lease of `ttl` seconds and puts `PREFIX + SERVICE` =
//!   `{"name","host","port","health":"healthy","pid","registered_at_ms"}` with it.
//! * `on-check`: after a passing check, keeps the key's lease alive; when the key is gone
//!   (its lease expired, etcd lost its data, someone deleted it) it registers again. After a
//!   failing check it does nothing, so the lease runs out unless a check passes in time.
//! * `before-stop`, `after-stop`, `on-unhealthy`, `on-failed`: deletes the key and revokes the
//!   lease. The verdict is always `proceed`: in the blocking phases (`before-stop`,
//!   `on-unhealthy`) a failure to reach etcd is logged rather than returned, since the key
//!   expires within `ttl` anyway and deregistering must never hold up a stop or a restart.
//!
//! If Keel dies, nothing keeps the lease alive and etcd drops the key within `ttl` seconds.
//! Choose `ttl` longer than the check interval, or the key lapses between two checks.
//!
//! The lease ID is kept in the host's `store` when granted, so that a lease whose key is gone is
//! revoked rather than left to expire. Without the store the plugin reads the lease back from the
//! key itself (the range answer carries it) and keeps nothing between calls.
//!
//! The gateway's calls (checked against etcd 3.4.23): `POST /v3/lease/grant {"TTL": n}` →
//! `{"ID": "…", "TTL": "…"}`; `POST /v3/kv/put {"key", "value", "lease"}`; `POST /v3/kv/range
//! {"key", "keys_only": true}` → `{"kvs": [{"lease": "…"}]}` (no `kvs` when the key is missing);
//! `POST /v3/lease/keepalive {"ID"}` → `{"result": {"ID", "TTL"}}` (no `TTL` once the lease is
//! gone); `POST /v3/kv/deleterange {"key", "prev_kv": true}` → `{"prev_kvs": [...]}`;
//! `POST /v3/lease/revoke {"ID"}` (404 when the lease is gone). Keys and values are base64;
//! 64-bit integers are written as strings both ways.

use keel_plugin_sdk::host::{self, HostError, Level};
use keel_plugin_sdk::json::{self, Json, Object};
use keel_plugin_sdk::lifecycle::{Decision, Event, Phase};
use keel_plugin_sdk::types::{Capability, ServiceInfo};
use keel_plugin_sdk::{Hook, Reader, Settings, base64, fnv1a, host_error_text, store};
use keel_plugin_sdk_http::{Url, post};

const PHASES: [Phase; 6] = [
    Phase::OnHealthy,
    Phase::OnCheck,
    Phase::BeforeStop,
    Phase::AfterStop,
    Phase::OnUnhealthy,
    Phase::OnFailed,
];

struct Config {
    /// A placeholder when the setting is missing or wrong (a problem is recorded then).
    endpoint: Url,
    prefix: String,
    ttl: i64,
    /// Host (no brackets) and port.
    address: Option<(String, u16)>,
    timeout_ms: u32,
}

impl Settings for Config {
    fn read(r: &mut Reader) -> Config {
        let endpoint = r.required_string("endpoint");
        let prefix = r
            .string("prefix")
            .unwrap_or_else(|| "/keel/services/".into());
        let ttl = r.integer("ttl", 2, 86_400).unwrap_or(10);
        let address = r.string("address");
        let timeout_ms = r.integer("timeout_ms", 100, 60_000).unwrap_or(2_000) as u32;

        let endpoint = match endpoint.map(|e| Url::parse(&e)) {
            Some(Ok(url)) if url.path_with_query.contains('?') => {
                r.problem(
                    "endpoint",
                    format!(
                        "expected etcd's client URL without a query, found text {:?}",
                        url.to_string()
                    ),
                );
                Url::default()
            }
            Some(Ok(url)) => url,
            Some(Err(message)) => {
                r.problem("endpoint", message);
                Url::default()
            }
            None => Url::default(),
        };
        let address = match address.map(|a| host_port(&a)) {
            Some(Ok(address)) => Some(address),
            Some(Err(message)) => {
                r.problem("address", message);
                None
            }
            None => None,
        };
        Config {
            endpoint,
            prefix,
            ttl,
            address,
            timeout_ms,
        }
    }

    fn needs(&self) -> Vec<Capability> {
        vec![Capability::Network(self.endpoint.network())]
    }
}

/// `host:port` or `[v6]:port` as host (without brackets) and port.
fn host_port(text: &str) -> Result<(String, u16), String> {
    let bad = |why: &str| format!("expected host:port ({why}), found text {text:?}");
    let (host, port) = match text.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            let port = after
                .strip_prefix(':')
                .ok_or_else(|| bad("no port after the IPv6 address"))?;
            (host, port)
        }
        None => {
            let (host, port) = text.rsplit_once(':').ok_or_else(|| bad("no port"))?;
            if host.contains(':') {
                return Err(bad("write an IPv6 address in brackets, e.g. [::1]:8080"));
            }
            (host, port)
        }
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':'));
    if !host_ok {
        return Err(bad("no valid host"));
    }
    match port.parse::<u16>() {
        Ok(port) if port > 0 => Ok((host.to_string(), port)),
        _ => Err(bad("the port must be a number between 1 and 65535")),
    }
}

impl Hook for Config {
    const NAME: &'static str = "etcd-register";
    const DESCRIPTION: &'static str = "Registers a healthy service's address in etcd under a lease kept alive \
                          by its checks, and removes it when the service stops or fails (works \
                          without the store grant: the lease is read back from etcd)";

    fn phases(&self) -> Vec<Phase> {
        PHASES.to_vec()
    }

    fn phases_of_invalid_settings() -> Vec<Phase> {
        PHASES.to_vec()
    }

    fn run(&self, service: &ServiceInfo, event: &Event) -> Result<Decision, String> {
        let config = self;
        let etcd = Etcd {
            config,
            key: format!("{}{}", config.prefix, service.name),
        };
        match event.phase {
            Phase::OnHealthy => etcd.register(service, event, None)?,
            // Only a passing check keeps the registration alive.
            Phase::OnCheck if event.consecutive_failures == 0 => etcd.refresh(service, event)?,
            Phase::BeforeStop | Phase::OnUnhealthy => {
                if let Err(why) = etcd.deregister() {
                    host::log(
                        Level::Warn,
                        &format!("{why}; the key expires within {} s by itself", config.ttl),
                    );
                }
            }
            Phase::AfterStop | Phase::OnFailed => etcd.deregister()?,
            _ => {}
        }
        Ok(Decision::proceed())
    }
}

keel_plugin_sdk::lifecycle_hook!(Config);

/// One service's registration in one etcd.
struct Etcd<'c> {
    config: &'c Config,
    /// The etcd key: prefix + service name.
    key: String,
}

impl Etcd<'_> {
    /// Grants a lease, puts the key with it, then revokes the lease the key had before (if
    /// another): the put moves the key to the new lease, so that revoke deletes nothing else.
    fn register(
        &self,
        service: &ServiceInfo,
        event: &Event,
        old: Option<i64>,
    ) -> Result<(), String> {
        let (host, port) = match &self.config.address {
            Some(address) => address.clone(),
            None => {
                let first = event.endpoints.first().ok_or_else(|| {
                    format!(
                        "nothing to register for {}: set `address`, or give the service a \
                         network health check (its first endpoint is registered)",
                        service.name
                    )
                })?;
                host_port(first).map_err(|why| format!("the check's endpoint: {why}"))?
            }
        };
        let old = match old {
            Some(lease) => Some(lease),
            None => self.current_lease()?,
        };
        let stored = self.stored_lease();

        let mut grant = Object::new();
        grant.integer("TTL", self.config.ttl);
        let granted = self.call("/v3/lease/grant", &grant.finish())?;
        if let Some(error) = granted
            .get("error")
            .and_then(Json::as_str)
            .filter(|e| !e.is_empty())
        {
            return Err(format!("etcd did not grant a lease: {error}"));
        }
        let lease = granted
            .get("ID")
            .and_then(Json::as_i64)
            .filter(|id| *id != 0)
            .ok_or_else(|| "etcd's lease grant answer has no lease ID".to_string())?;

        let mut value = Object::new();
        value
            .string("name", &service.name)
            .string("host", &host)
            .integer("port", port)
            .string("health", "healthy")
            .opt_integer("pid", event.pid)
            .integer("registered_at_ms", event.time_ms);
        let mut put = Object::new();
        put.string("key", &base64(self.key.as_bytes()))
            .string("value", &base64(value.finish().as_bytes()))
            .string("lease", &lease.to_string());
        if let Err(why) = self.call("/v3/kv/put", &put.finish()) {
            // Not attached to anything: do not leave it waiting out its TTL.
            let _ = self.revoke(lease);
            return Err(why);
        }
        self.store_lease(Some(lease));
        for previous in [old, stored].into_iter().flatten() {
            if previous != lease && previous != 0 {
                // Best effort: it expires by itself.
                let _ = self.revoke(previous);
            }
        }
        host::log(
            Level::Info,
            &format!(
                "registered {} = {} in etcd, lease {lease:x} ({} s)",
                self.key,
                keel_plugin_sdk::authority(&host, port),
                self.config.ttl
            ),
        );
        Ok(())
    }

    /// Keeps the key's lease alive, or registers again when the key or its lease is gone.
    fn refresh(&self, service: &ServiceInfo, event: &Event) -> Result<(), String> {
        let current = self.current_lease()?;
        if let Some(lease) = current.filter(|l| *l != 0) {
            if self.keep_alive(lease)? {
                return Ok(());
            }
            host::log(
                Level::Info,
                &format!("the lease of {} ran out; registering again", self.key),
            );
        } else {
            host::log(
                Level::Info,
                &format!(
                    "{} is missing from etcd (or has no lease); registering again",
                    self.key
                ),
            );
        }
        self.register(service, event, current)
    }

    /// Deletes the key and revokes its lease (and the stored one, if another).
    fn deregister(&self) -> Result<(), String> {
        let mut delete = Object::new();
        delete
            .string("key", &base64(self.key.as_bytes()))
            .bool("prev_kv", true);
        let deleted = self.call("/v3/kv/deleterange", &delete.finish())?;
        let from_key = deleted
            .get("prev_kvs")
            .and_then(Json::as_array)
            .and_then(|kvs| kvs.first())
            .and_then(|kv| kv.get("lease"))
            .and_then(Json::as_i64);
        let stored = self.stored_lease();
        let mut revoked = Vec::new();
        for lease in [from_key, stored].into_iter().flatten() {
            if lease != 0 && !revoked.contains(&lease) {
                self.revoke(lease)?;
                revoked.push(lease);
            }
        }
        self.store_lease(None);
        if from_key.is_some() {
            host::log(Level::Info, &format!("removed {} from etcd", self.key));
        }
        Ok(())
    }

    /// The lease the key is attached to: None when the key is missing, Some(0) when it has none.
    fn current_lease(&self) -> Result<Option<i64>, String> {
        let mut range = Object::new();
        range
            .string("key", &base64(self.key.as_bytes()))
            .bool("keys_only", true);
        let answer = self.call("/v3/kv/range", &range.finish())?;
        // Zero values are left out of the answer: no `kvs` for a missing key, no `lease` for a
        // key without one.
        Ok(answer
            .get("kvs")
            .and_then(Json::as_array)
            .and_then(|kvs| kvs.first())
            .map(|kv| kv.get("lease").and_then(Json::as_i64).unwrap_or(0)))
    }

    /// Renews a lease; false when etcd no longer has it.
    fn keep_alive(&self, lease: i64) -> Result<bool, String> {
        let mut request = Object::new();
        request.string("ID", &lease.to_string());
        // A streaming call: the answer is one JSON object per request, each on its own line,
        // `{"result": {...}}` or `{"error": {...}}`.
        let text = self.post_text("/v3/lease/keepalive", &request.finish())?;
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        let answer = json::parse(first)
            .map_err(|e| format!("etcd's keepalive answer is not JSON ({e}): {first}"))?;
        if let Some(error) = answer.get("error") {
            return Err(format!(
                "etcd refused the keepalive: {}",
                error.get("message").and_then(Json::as_str).unwrap_or(first)
            ));
        }
        // An unknown lease is answered with a TTL of 0, which the JSON leaves out.
        let ttl = answer
            .get("result")
            .and_then(|r| r.get("TTL"))
            .and_then(Json::as_i64)
            .unwrap_or(0);
        Ok(ttl > 0)
    }

    /// Revokes a lease, deleting every key attached to it. A lease etcd no longer has is fine.
    fn revoke(&self, lease: i64) -> Result<(), String> {
        let mut request = Object::new();
        request.string("ID", &lease.to_string());
        match self.call("/v3/lease/revoke", &request.finish()) {
            Err(why) if why.contains("lease not found") => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// POSTs a JSON request to the gateway and parses the answer; a non-2xx answer is an error
    /// carrying etcd's message (e.g. `etcdserver: requested lease not found`).
    fn call(&self, path: &str, body: &str) -> Result<Json, String> {
        let text = self.post_text(path, body)?;
        json::parse(&text).map_err(|e| format!("etcd's answer to {path} is not JSON ({e})"))
    }

    fn post_text(&self, path: &str, body: &str) -> Result<String, String> {
        let url = self.config.endpoint.join(path);
        let response = post(
            &url,
            &[],
            "application/json",
            body.as_bytes(),
            self.config.timeout_ms,
            1 << 20,
        )
        .map_err(|why| format!("etcd at {}: POST {path} failed: {why}", self.shown()))?;
        let text = String::from_utf8_lossy(&response.body).into_owned();
        if !response.success() {
            // The gateway's error body: {"error": "...", "message": "...", "code": N}.
            let message = json::parse(&text)
                .ok()
                .and_then(|e| e.get("message").and_then(Json::as_str).map(str::to_string))
                .unwrap_or_else(|| response.excerpt());
            return Err(format!(
                "etcd at {}: POST {path} answered HTTP {}: {message}",
                self.shown(),
                response.status
            ));
        }
        Ok(text)
    }

    /// The endpoint as a user would write it (no lone trailing '/').
    fn shown(&self) -> String {
        self.config
            .endpoint
            .to_string()
            .trim_end_matches('/')
            .to_string()
    }

    /// The store key for this registration's lease: a hash, since endpoint and key are
    /// arbitrarily long and store keys are at most 256 bytes.
    fn store_key(&self) -> String {
        let endpoint = self.config.endpoint.to_string();
        let hash = fnv1a(&[endpoint.as_bytes(), self.key.as_bytes()]);
        format!("lease/{hash:016x}")
    }

    fn stored_lease(&self) -> Option<i64> {
        match store::get(&self.store_key()) {
            Ok(Some(value)) => std::str::from_utf8(&value).ok()?.parse().ok(),
            Ok(None) => None,
            Err(e) => {
                store_trouble(&e);
                None
            }
        }
    }

    fn store_lease(&self, lease: Option<i64>) {
        let key = self.store_key();
        let result = match lease {
            Some(lease) => store::set(&key, lease.to_string().as_bytes()),
            None => store::delete(&key),
        };
        if let Err(e) = result {
            store_trouble(&e);
        }
    }
}

/// A denied store is the documented way to run without it: said once, at debug level. Other
/// store errors are worth a warning.
fn store_trouble(error: &HostError) {
    use std::sync::atomic::{AtomicBool, Ordering};
    static SAID: AtomicBool = AtomicBool::new(false);
    match error {
        HostError::Denied(_) => {
            if !SAID.swap(true, Ordering::Relaxed) {
                host::log(
                    Level::Debug,
                    "the store is not granted: the lease is read back from etcd on each call",
                );
            }
        }
        _ => host::log(
            Level::Warn,
            &format!("the store failed: {}", host_error_text(error)),
        ),
    }
}
