//! Loading third-party plugins from a directory.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use keel_plugin_host::{
    Bundled, HostConfig, LoadFailure, PluginHost, PluginSource, Settings, Value,
};

#[tokio::test]
async fn third_party_echo_loads_from_a_directory() {
    let (host, dir) = host_with(&["third-party-echo"], HashMap::new()).await;
    let echo = host
        .list()
        .into_iter()
        .find(|p| p.name == "echo")
        .expect("echo listed");
    assert_eq!(
        echo.source,
        PluginSource::Path(dir.path().join("third-party-echo.wasm"))
    );
    assert!(echo.grant.contains("nothing"), "{echo:?}");
    let settings = Settings::new().with("message", Value::Text("hello".into()));
    let outcome = host
        .check("echo", &service(), &settings, Duration::from_secs(2))
        .await
        .expect("check");
    assert!(
        outcome.healthy && outcome.message.contains("hello"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_plugin_built_against_an_older_0_1_still_loads_and_runs() {
    let (host, _dir) = host_with(&["built-for-0-1-0"], HashMap::new()).await;
    let old = host
        .list()
        .into_iter()
        .find(|p| p.name == "old-echo")
        .expect("old-echo listed");
    assert_eq!(old.wit_version, "0.1.0", "{old:?}");
    // The host's own plugins are built against the newest 0.1.
    let tcp = host.list().into_iter().find(|p| p.name == "tcp").unwrap();
    assert_eq!(tcp.wit_version, "0.1.2", "{tcp:?}");
    let outcome = host
        .check(
            "old-echo",
            &service(),
            &Settings::new(),
            Duration::from_secs(2),
        )
        .await
        .expect("check");
    assert!(
        outcome.healthy && outcome.message == "old echo",
        "{outcome:?}"
    );
    // Its import of the 0.1.0 host interface was linked: the log line arrived.
    assert!(
        outcome
            .logs
            .iter()
            .any(|l| l.message == "checked by a plugin built for 0.1.0"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn wrong_world_is_refused_readably_and_others_still_load() {
    let dir = plugin_dir(&[fixture("wrong-world"), fixture("third-party-echo")]);
    let host = PluginHost::new(HostConfig {
        cache_dir: Some(shared_cache()),
        plugin_dir: Some(dir.path().to_path_buf()),
        grants: HashMap::new(),
        ..HostConfig::default()
    })
    .await
    .expect("host");
    assert!(host.list().iter().any(|p| p.name == "echo"));
    let errors = host.load_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        matches!(errors[0].reason, LoadFailure::WrongWorld { .. }),
        "{}",
        errors[0]
    );
    let text = errors[0].to_string();
    eprintln!("{text}");
    assert!(text.contains("wrong-world.wasm"), "{text}");
    assert!(text.contains("It exports [run]"), "{text}");
    assert!(text.contains("keel:plugin/health-check@0.1.x"), "{text}");

    let described = host
        .inspect(&fixture("wrong-world").display().to_string())
        .await
        .expect("inspect");
    assert_eq!(described.kind, None);
    assert!(
        described
            .problem
            .expect("a problem")
            .contains("exports [run]")
    );
}

#[tokio::test]
async fn a_third_party_plugin_may_not_shadow_a_bundled_one_loaded_or_not() {
    let dir = plugin_dir(&[bundled("tcp")]);
    // A host that serves one config loads only the bundled plugins it names; `tcp` keeps its
    // name either way.
    for bundled in [Bundled::All, Bundled::Only(["binary".to_string()].into())] {
        let host = PluginHost::new(HostConfig {
            cache_dir: Some(shared_cache()),
            plugin_dir: Some(dir.path().to_path_buf()),
            bundled: bundled.clone(),
            ..HostConfig::default()
        })
        .await
        .expect("host");
        let errors = host.load_errors();
        assert_eq!(errors.len(), 1, "{bundled:?}: {errors:?}");
        assert!(
            matches!(errors[0].reason, LoadFailure::ShadowsBundled { .. }),
            "{}",
            errors[0]
        );
        assert!(
            errors[0]
                .to_string()
                .contains("may not shadow a bundled one")
        );
        let listed: Vec<(String, PluginSource)> = host
            .list()
            .into_iter()
            .map(|p| (p.name, p.source))
            .collect();
        let tcp = listed.iter().find(|(name, _)| name == "tcp");
        match bundled {
            Bundled::All => assert_eq!(tcp.map(|t| &t.1), Some(&PluginSource::Bundled)),
            Bundled::Only(_) => assert_eq!(listed, [("binary".into(), PluginSource::Bundled)]),
        }
    }
}

#[tokio::test]
async fn garbage_file_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("junk.wasm"), b"not wasm at all").expect("write");
    let host = PluginHost::new(HostConfig {
        cache_dir: Some(shared_cache()),
        plugin_dir: Some(dir.path().to_path_buf()),
        grants: HashMap::new(),
        ..HostConfig::default()
    })
    .await
    .expect("host");
    assert_eq!(host.load_errors().len(), 1);
    assert!(matches!(
        host.load_errors()[0].reason,
        LoadFailure::Compile(_)
    ));
}

#[tokio::test]
async fn invalid_grant_is_a_config_error() {
    let mut grants = HashMap::new();
    grants.insert(
        "tcp".to_string(),
        keel_plugin_host::Grant {
            memory_mb: Some(1 << 20),
            ..keel_plugin_host::Grant::as_needed()
        },
    );
    let err = PluginHost::new(HostConfig {
        grants,
        ..HostConfig::default()
    })
    .await
    .unwrap_err();
    assert!(err.to_string().contains("memory_mb"), "{err}");
}
