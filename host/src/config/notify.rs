//! `type = "notify"`: the check whose answer is the service's own word (sd_notify's
//! `NOTIFY_SOCKET`, or s6's notification descriptor), not a plugin's poll. Its table,
//! `[services.NAME.health_check.notify]`, is the host's to read, since no plugin owns it.

use super::model::NotifyCheck;
use super::node::{Node, Value};
use super::reader::{Cx, join};

/// The check type whose readiness the service reports itself.
pub const NOTIFY: &str = "notify";

/// Keys of `[services.NAME.health_check.notify]`.
pub const NOTIFY_KEYS: [&str; 2] = ["watchdog", "notification_fd"];

/// The polling keys of a check, which a notify check has no use for.
pub(super) const POLLING_KEYS: [&str; 3] = ["interval", "retries", "timeout"];

/// The descriptors a service may be told to write its readiness to: not stdin, stdout or
/// stderr, and below the usual soft limit on open files.
const FD_RANGE: std::ops::Range<i64> = 3..1024;

/// Reads a notify check's own table (`node`, empty when absent) and refuses the polling keys
/// in `check`, the `[…health_check]` table.
pub(super) fn notify_check(cx: &mut Cx, check: &Node, node: &Node, path: &str) -> NotifyCheck {
    if let Value::Table(t) = &check.value {
        for key in POLLING_KEYS {
            if let Some(e) = t.get(key) {
                cx.error(
                    &e.key_span,
                    &join(path, key),
                    "not used by a `notify` check: the service says itself when it is ready",
                );
            }
        }
    }
    let path = join(path, NOTIFY);
    let Some(t) = cx.table(node, &path) else {
        return NotifyCheck::default();
    };
    cx.unknown_keys(t, &path, &NOTIFY_KEYS);
    NotifyCheck {
        watchdog: cx.seconds(t, &path, "watchdog"),
        notification_fd: cx
            .integer(t, &path, "notification_fd", FD_RANGE)
            .map(|n| n as i32),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use crate::config::{Config, Diagnostics, parse_str};

    fn parse(check: &str) -> Result<Config, Diagnostics> {
        let text = format!(
            "[services.api]\n[services.api.deployment]\nmode = \"binary\"\n\
             [services.api.deployment.binary]\nbinary_path = \"/bin/true\"\n\
             [services.api.health_check]\n{check}"
        );
        parse_str(Path::new("s.toml"), &text, &|_| None)
    }

    #[test]
    fn a_notify_check_with_a_watchdog_and_a_descriptor() {
        let c = parse("type = \"notify\"\n[services.api.health_check.notify]\nwatchdog = 2.5\nnotification_fd = 3\n")
            .unwrap();
        let check = c.services[0].health_check.as_ref().unwrap();
        assert!(!check.by_plugin());
        let n = check.notify.as_ref().unwrap();
        assert_eq!(n.watchdog, Some(Duration::from_millis(2500)));
        assert_eq!(n.notification_fd, Some(3));
        // Without its table: no watchdog, NOTIFY_SOCKET only.
        let c = parse("type = \"notify\"\n").unwrap();
        let n = c.services[0].health_check.as_ref().unwrap().notify.clone();
        assert_eq!(n, Some(Default::default()));
    }

    #[test]
    fn polling_keys_stdio_descriptors_and_unknown_keys_are_refused_with_their_place() {
        let e: Vec<String> = parse(
            "type = \"notify\"\ninterval = 5\n[services.api.health_check.notify]\nnotification_fd = 1\nwatchdg = 3\n",
        )
        .unwrap_err()
        .iter()
        .map(|d| d.to_string())
        .collect();
        assert_eq!(e.len(), 3, "{e:#?}");
        assert!(
            e[0].starts_with(
                "s.toml:8:1: services.api.health_check.interval: not used by a `notify` check"
            ),
            "{e:#?}"
        );
        assert!(
            e.iter().any(|l| l.starts_with("s.toml:10:")
                && l.contains("notification_fd: expected an integer between 3 and 1023, found 1")),
            "{e:#?}"
        );
        assert!(
            e.iter()
                .any(|l| l.contains("notify.watchdg: unknown key (did you mean `watchdog`?)")),
            "{e:#?}"
        );
    }

    #[test]
    fn the_short_form_says_notify_in_one_word() {
        let text =
            "[[service]]\nname = \"api\"\ncmd = [\"/bin/true\"]\nhealth_check = \"notify\"\n";
        let c = parse_str(Path::new("s.toml"), text, &|_| None).unwrap();
        let check = c.services[0].health_check.as_ref().unwrap();
        assert_eq!(check.check_type, "notify");
        assert_eq!(check.notify, Some(Default::default()));
    }
}
