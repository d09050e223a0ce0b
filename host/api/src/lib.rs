//! Keel's control API contract, shared by the daemon (which serializes these types) and the
//! CLI (which reads them back): the routes with their methods, request bodies and answer types
//! ([`endpoint`]), the envelope and structured errors ([`envelope`]), and the data: services
//! ([`service`]), health ([`health`]), hooks ([`hook`]), pre-flight ([`preflight`]), reload ([`reload`]), the daemon ([`daemon`]) and
//! the event stream ([`event`]). A field renamed here is renamed on both sides, or neither
//! compiles. The reference for people is docs/api.md.

pub mod daemon;
pub mod endpoint;
pub mod envelope;
pub mod event;
pub mod health;
pub mod hook;
pub mod preflight;
pub mod reload;
pub mod service;

pub use daemon::{DaemonInfo, ShuttingDown};
pub use endpoint::{CONFIG_HEADER, Endpoint, Method, Streamed, route};
pub use envelope::{ErrorDetails, Failure, Reply, Success};
pub use event::{Event, EventKinds};
pub use health::{CheckReport, Health, HealthAnswer, HealthState};
pub use hook::{HookCause, HookOutcome, HookPhase, HookRun};
pub use preflight::{CheckKind, Preflight, PreflightCheck, Readiness, ReadinessEntry};
pub use reload::{ChangeKind, ReloadBody, ReloadReport, ServiceChange};
pub use service::{ExitInfo, Logs, ServiceSummary, ServiceView, Snapshot, Status};
