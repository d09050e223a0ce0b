//! The event stream (`GET /events`): one JSON object per line, tagged by `event`.

use serde::{Deserialize, Serialize};

use crate::health::{CheckReport, HealthState};
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
    /// This client fell behind and missed `missed` events; a new `GET /services/list` brings
    /// it up to date.
    Lagged { missed: u64 },
}

/// The kinds of event a client may ask for after the snapshot (`?events=changed,health`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventKinds {
    pub changed: bool,
    pub health: bool,
}

impl EventKinds {
    pub const ALL: EventKinds = EventKinds {
        changed: true,
        health: true,
    };

    /// Reads the `events` query parameter: comma-separated `changed`, `health`.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut kinds = EventKinds {
            changed: false,
            health: false,
        };
        for kind in list.split(',') {
            match kind.trim() {
                "changed" => kinds.changed = true,
                "health" => kinds.health = true,
                other => {
                    return Err(format!(
                        "unknown event kind `{other}` in `events` (expected changed, health)"
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
        kinds.join(",")
    }

    /// Whether a client that asked for these kinds gets `event`.
    pub fn wants(self, event: &Event) -> bool {
        match event {
            Event::Changed(_) => self.changed,
            Event::Health { .. } => self.health,
            Event::Snapshot { .. } | Event::Lagged { .. } => true,
        }
    }
}
