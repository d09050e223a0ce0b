use std::path::Path;

use super::ServiceGraph;
use crate::config::parse_str;

fn svc(name: &str, deps: &[&str], extra: &str) -> String {
    let deps: Vec<String> = deps.iter().map(|d| format!("{d:?}")).collect();
    format!(
        "[services.{name}]\ndependencies = [{}]\n{extra}\n[services.{name}.deployment]\nmode = \"binary\"\n[services.{name}.deployment.binary]\nbinary_path = \"/bin/true\"\n",
        deps.join(", ")
    )
}

fn graph(text: &str) -> Result<ServiceGraph, String> {
    let config = parse_str(Path::new("t.toml"), text, &|_| None).map_err(|d| d.to_string())?;
    ServiceGraph::build(&config).map_err(|d| d.to_string())
}

#[test]
fn levels_follow_dependencies_and_start_order_breaks_ties() {
    let text = [
        svc("api", &["db", "cache"], ""),
        svc("db", &[], "[services.db.startup]\nstart_order = 20"),
        svc("cache", &[], "[services.cache.startup]\nstart_order = 10"),
        svc("web", &["api"], ""),
        svc("metrics", &[], ""),
    ]
    .concat();
    let g = graph(&text).unwrap();
    assert_eq!(
        g.start_levels(),
        vec![vec!["cache", "db", "metrics"], vec!["api"], vec!["web"]]
    );
    assert_eq!(g.stop_order(), vec!["web", "api", "metrics", "db", "cache"]);
    assert_eq!(
        g.plan(&["api"]).unwrap(),
        vec![vec!["cache", "db"], vec!["api"]]
    );
    assert!(
        g.plan(&["apj"])
            .unwrap_err()
            .to_string()
            .contains("did you mean `api`")
    );
}

#[test]
fn a_start_plan_without_dependencies_keeps_only_the_targets_in_order() {
    let text = [
        svc("db", &[], ""),
        svc("api", &["db"], ""),
        svc("web", &["api"], ""),
    ]
    .concat();
    let g = graph(&text).unwrap();
    assert_eq!(
        g.start_plan(&["web"], true).unwrap(),
        vec![vec!["db"], vec!["api"], vec!["web"]]
    );
    assert_eq!(g.start_plan(&["web"], false).unwrap(), vec![vec!["web"]]);
    assert_eq!(
        g.start_plan(&["web", "db"], false).unwrap(),
        vec![vec!["db"], vec!["web"]]
    );
    assert!(g.start_plan(&["wbe"], false).is_err());
}

#[test]
fn reverse_dependencies_direct_and_transitive() {
    let text = [
        svc("orchestrator", &[], ""),
        svc("control-center", &["orchestrator"], ""),
        svc("mcp-server", &["orchestrator"], ""),
        svc("api-gateway", &["control-center", "mcp-server"], ""),
    ]
    .concat();
    let g = graph(&text).unwrap();
    assert_eq!(
        g.dependents("orchestrator"),
        vec!["control-center", "mcp-server"]
    );
    assert_eq!(
        g.all_dependents("orchestrator"),
        vec!["control-center", "mcp-server", "api-gateway"]
    );
    assert_eq!(
        g.all_dependencies("api-gateway"),
        vec!["orchestrator", "control-center", "mcp-server"]
    );
    assert_eq!(g.level("api-gateway"), Some(2));
}

#[test]
fn cycle_is_reported_with_its_path_and_only_its_members() {
    let text = [
        svc("outside", &["alpha"], ""),
        svc("alpha", &["beta"], ""),
        svc("beta", &["gamma"], ""),
        svc("gamma", &["alpha"], ""),
        svc("loner", &[], ""),
    ]
    .concat();
    let err = graph(&text).unwrap_err();
    assert!(
        err.contains("dependency cycle: alpha -> beta -> gamma -> alpha"),
        "{err}"
    );
    assert!(!err.contains("outside"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    // The location is alpha's `dependencies` entry for beta.
    assert!(
        err.starts_with("t.toml:9:17: services.alpha.dependencies[0]"),
        "{err}"
    );
}

#[test]
fn unknown_and_self_dependencies_name_the_asking_service() {
    let text = [
        svc("web", &["databse"], ""),
        svc("database", &["database"], ""),
    ]
    .concat();
    let err = graph(&text).unwrap_err();
    assert!(
        err.contains(
            "service `web` depends on `databse`, which is not defined (did you mean `database`?)"
        ),
        "{err}"
    );
    assert!(
        err.contains("service `database` depends on itself"),
        "{err}"
    );
}

#[test]
fn conflicts_are_symmetric_and_contradictions_refused() {
    let text = [
        svc(
            "coredns",
            &[],
            "conflicts = [\"dnsmasq\"]\n[services.coredns.startup]\nauto_start = false",
        ),
        svc("dnsmasq", &[], ""),
    ]
    .concat();
    let g = graph(&text).unwrap();
    assert_eq!(g.conflicts_of("dnsmasq"), vec!["coredns"]);
    assert_eq!(g.conflicts_of("coredns"), vec!["dnsmasq"]);

    let both = [svc("a", &["b"], "conflicts = [\"b\"]"), svc("b", &[], "")].concat();
    assert!(
        graph(&both)
            .unwrap_err()
            .contains("both depends on and conflicts with `b`")
    );
    let auto = [svc("a", &[], "conflicts = [\"b\"]"), svc("b", &[], "")].concat();
    assert!(
        graph(&auto)
            .unwrap_err()
            .contains("both have auto_start = true")
    );
}

#[test]
fn required_for_maps_operations_to_services() {
    let text = [
        svc(
            "orchestrator",
            &[],
            "required_for = [\"server\", \"workflow\"]",
        ),
        svc("gitea", &[], "required_for = [\"workflow\"]"),
    ]
    .concat();
    let g = graph(&text).unwrap();
    assert_eq!(g.operations()["server"], vec!["orchestrator"]);
    assert_eq!(g.operations()["workflow"], vec!["orchestrator", "gitea"]);
}
