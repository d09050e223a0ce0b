//! The event stream (`GET /events`): one JSON object per line, tagged by `event`.

use serde::{Deserialize, Serialize};

use crate::health::{CheckReport, HealthState};
use crate::hook::HookRun;
use crate::service::Snapshot;

/// One line of the event stream. The supervisor broadcasts `Changed` and `Health`; the stream
/// begins with a `Snapshot` of every service and says `Lagged` when a client fell behind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Every service's snapshot, in config order: the first line of every stream.
    Snapshot { services: Vec<Snapshot> },
    /// A service's status (or health state) changed; the whole new snapshot.
    Changed(Snapshot),
    /// A health check of a running service answered.
    Health {
        service: String,
        state: HealthState,
        report: CheckReport,
    },
    /// A hook ran for a service.
    Hook { service: String, run: HookRun },
    /// This client fell behind and missed `missed` events; a new `GET /services/list` brings
    /// it up to date.
    Lagged { missed: u64 },
}

/// The kinds of event a client may ask for after the snapshot
/// (`?events=changed,health,hook`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventKinds {
    pub changed: bool,
    pub health: bool,
    pub hook: bool,
}

impl EventKinds {
    pub const ALL: EventKinds = EventKinds {
        changed: true,
        health: true,
        hook: true,
    };

    /// State changes only.
    pub const CHANGED: EventKinds = EventKinds {
        changed: true,
        health: false,
        hook: false,
    };

    /// Reads the `events` query parameter: comma-separated `changed`, `health`, `hook`.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut kinds = EventKinds {
            changed: false,
            health: false,
            hook: false,
        };
        for kind in list.split(',') {
            match kind.trim() {
                "changed" => kinds.changed = true,
                "health" => kinds.health = true,
                "hook" => kinds.hook = true,
                other => {
                    return Err(format!(
                        "unknown event kind `{other}` in `events` (expected changed, health, hook)"
                    ));
                }
            }
        }
        Ok(kinds)
    }

    /// The query parameter's value.
    pub fn query(self) -> String {
        let mut kinds = Vec::new();
        if self.changed {
            kinds.push("changed");
        }
        if self.health {
            kinds.push("health");
        }
        if self.hook {
            kinds.push("hook");
        }
        kinds.join(",")
    }

    /// Whether a client that asked for these kinds gets `event`.
    pub fn wants(self, event: &Event) -> bool {
        match event {
            Event::Changed(_) => self.changed,
            Event::Health { .. } => self.health,
            Event::Hook { .. } => self.hook,
            Event::Snapshot { .. } | Event::Lagged { .. } => true,
        }
    }
}
