//! What differs between the config a daemon serves and the file it re-reads: per service,
//! added, removed, changed (and in what) or unchanged, and whether the platform-wide settings
//! changed. Pure, so that a reload's plan is decided in one tested place.
//!
//! Where a value was written does not count: moving a service in the file, or reformatting
//! it, changes nothing.

use super::{Config, HookEntry, Node, PluginTable, Service, Value};

/// What became of one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Added,
    Removed,
    /// `what` names the parts that differ, in the order of a service's table.
    Changed {
        what: Vec<&'static str>,
    },
    Unchanged,
}

impl Change {
    /// Whether the change needs the service's process restarted: anything beyond the
    /// descriptive fields does (how it is run, checked, started, ordered or hooked).
    pub fn needs_restart(&self) -> bool {
        match self {
            Change::Changed { what } => what.iter().any(|w| !DESCRIPTIVE.contains(w)),
            _ => false,
        }
    }
}

/// Fields that only describe a service: a change to them is applied without a restart.
const DESCRIPTIVE: &[&str] = &[
    "type",
    "category",
    "description",
    "required_for",
    "conflicts",
];

/// Every service of `new` in its file order, then those only `old` has, in theirs.
pub fn services(old: &Config, new: &Config) -> Vec<(String, Change)> {
    let mut out: Vec<(String, Change)> = new
        .services
        .iter()
        .map(|n| {
            let change = match old.service(&n.name) {
                None => Change::Added,
                Some(o) => match service_changes(o, n) {
                    what if what.is_empty() => Change::Unchanged,
                    what => Change::Changed { what },
                },
            };
            (n.name.clone(), change)
        })
        .collect();
    out.extend(
        old.services
            .iter()
            .filter(|o| new.service(&o.name).is_none())
            .map(|o| (o.name.clone(), Change::Removed)),
    );
    out
}

/// Whether the settings that apply to every service differ: the platform hooks, `[plugins]`
/// (its directory and grants) and `[orchestrator]`.
pub fn platform_changed(old: &Config, new: &Config) -> bool {
    !hooks_same(&old.hooks, &new.hooks)
        || old.plugins.dir != new.plugins.dir
        || old.plugins.grants != new.plugins.grants
        || old.orchestrator != new.orchestrator
}

fn service_changes(o: &Service, n: &Service) -> Vec<&'static str> {
    let names = |v: &[super::Named]| v.iter().map(|d| d.name.clone()).collect::<Vec<_>>();
    let checks_same = match (&o.health_check, &n.health_check) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a.check_type == b.check_type
                && a.interval == b.interval
                && a.retries == b.retries
                && a.timeout == b.timeout
                && table_same(&a.settings, &b.settings)
        }
        _ => false,
    };
    [
        ("type", o.service_type == n.service_type),
        ("category", o.category == n.category),
        ("description", o.description == n.description),
        ("required_for", o.required_for == n.required_for),
        (
            "dependencies",
            names(&o.dependencies) == names(&n.dependencies),
        ),
        ("conflicts", names(&o.conflicts) == names(&n.conflicts)),
        (
            "deployment",
            o.deployment.mode == n.deployment.mode
                && table_same(&o.deployment.settings, &n.deployment.settings),
        ),
        ("health_check", checks_same),
        ("startup", o.startup == n.startup),
        ("hooks", hooks_same(&o.hooks, &n.hooks)),
        ("env_file", o.env_from_files == n.env_from_files),
    ]
    .into_iter()
    .filter(|(_, same)| !same)
    .map(|(what, _)| what)
    .collect()
}

fn hooks_same(a: &[HookEntry], b: &[HookEntry]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.plugin == y.plugin
                && x.phases == y.phases
                && x.timeout == y.timeout
                && x.on_error == y.on_error
                && table_same(&x.settings, &y.settings)
        })
}

fn table_same(a: &PluginTable, b: &PluginTable) -> bool {
    node_same(&a.node, &b.node)
}

/// Equal values, wherever they were written.
fn node_same(a: &Node, b: &Node) -> bool {
    match (&a.value, &b.value) {
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| node_same(p, q))
        }
        (Value::Table(x), Value::Table(y)) => {
            x.entries.len() == y.entries.len()
                && x.entries
                    .iter()
                    .all(|e| y.get(&e.key).is_some_and(|f| node_same(&e.node, &f.node)))
        }
        (x, y) => x == y,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::parse_str;

    fn config(text: &str) -> Config {
        parse_str(Path::new("/srv/s.toml"), text, &|_| None).unwrap()
    }

    fn svc(name: &str, args: &str, extra: &str) -> String {
        format!(
            "[services.{name}]\n{extra}\n[services.{name}.deployment]\nmode = \"binary\"\n\
             [services.{name}.deployment.binary]\nbinary_path = \"/bin/sleep\"\nargs = [{args}]\n"
        )
    }

    #[test]
    fn each_service_is_added_removed_changed_or_unchanged() {
        let old = config(
            &[
                svc("a", "\"1\"", ""),
                svc("b", "\"1\"", ""),
                svc("c", "\"1\"", ""),
            ]
            .concat(),
        );
        let new = config(
            &[
                svc("d", "\"1\"", ""),
                svc("b", "\"2\"", ""),
                svc("a", "\"1\"", "description = \"the first\""),
            ]
            .concat(),
        );
        let got = services(&old, &new);
        assert_eq!(
            got,
            vec![
                ("d".into(), Change::Added),
                (
                    "b".into(),
                    Change::Changed {
                        what: vec!["deployment"]
                    }
                ),
                (
                    "a".into(),
                    Change::Changed {
                        what: vec!["description"]
                    }
                ),
                ("c".into(), Change::Removed),
            ]
        );
        assert!(got[1].1.needs_restart(), "a new argument restarts");
        assert!(!got[2].1.needs_restart(), "a new description does not");
    }

    #[test]
    fn where_a_value_was_written_does_not_count() {
        let old = config(&[svc("a", "\"1\", \"2\"", ""), svc("b", "\"1\"", "")].concat());
        // The same services, in another order, with other spacing.
        let new = config(
            &[
                svc("b", "\"1\"", ""),
                "\n\n".into(),
                svc("a", "\"1\",\"2\"", ""),
            ]
            .concat(),
        );
        assert!(
            services(&old, &new)
                .iter()
                .all(|(_, c)| *c == Change::Unchanged)
        );
        assert!(!platform_changed(&old, &new));
    }

    #[test]
    fn the_parts_that_changed_are_named() {
        let old = config(&svc("a", "\"1\"", "dependencies = []"));
        let new = config(
            &[
                svc(
                    "a",
                    "\"1\"",
                    "dependencies = [\"z\"]\n[services.a.startup]\nmax_restarts = 9",
                ),
                svc("z", "\"1\"", ""),
            ]
            .concat(),
        );
        assert_eq!(
            services(&old, &new)[0].1,
            Change::Changed {
                what: vec!["dependencies", "startup"]
            }
        );
    }

    #[test]
    fn a_grant_or_a_platform_hook_changes_the_platform_not_the_services() {
        let base = svc("a", "\"1\"", "");
        let old = config(&base);
        let new = config(&format!(
            "{base}\n[plugins.grants.tcp]\nnetwork = [\"127.0.0.1:*\"]\n"
        ));
        assert!(platform_changed(&old, &new));
        assert_eq!(services(&old, &new)[0].1, Change::Unchanged);
    }
}
