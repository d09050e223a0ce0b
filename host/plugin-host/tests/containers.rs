//! What the bundled container modes and command check ask for, and what the docker mode answers
//! with: exactly the programs and paths their settings name, and a foreground `docker run`.

mod common;

use std::collections::HashMap;

use common::*;
use keel_plugin_host::{Capability, Scalar, Settings, Value};

fn texts(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|s| Scalar::Text(s.to_string())).collect())
}

#[tokio::test]
async fn needs_are_exactly_the_programs_and_paths_named() {
    let (host, _dir) = host_with(&[], HashMap::new()).await;
    let docker = Settings::new()
        .with("image", Value::Text("busybox:1".into()))
        .with(
            "volumes",
            texts(&["./data:/data", "cache:/cache", "/etc/app.conf:/app.conf:ro"]),
        );
    assert_eq!(
        host.authorize("docker", &docker, &service()).await.unwrap(),
        vec![
            Capability::Command("docker".into()),
            Capability::Path("./data".into()),
            Capability::Path("/etc/app.conf".into()),
        ],
        "a named volume (cache) is no path"
    );
    let compose = Settings::new()
        .with("compose_file", Value::Text("compose.yaml".into()))
        .with("service_name", Value::Text("web".into()));
    assert_eq!(
        host.authorize("docker-compose", &compose, &service())
            .await
            .unwrap(),
        vec![
            Capability::Command("docker".into()),
            Capability::Command("docker-compose".into()),
            Capability::Path("compose.yaml".into()),
        ]
    );
    let command = Settings::new().with(
        "command",
        Value::Text("/usr/bin/systemctl is-active 'my service'".into()),
    );
    assert_eq!(
        host.authorize("command", &command, &service())
            .await
            .unwrap(),
        vec![Capability::Command("/usr/bin/systemctl".into())]
    );
}

#[tokio::test]
async fn docker_settings_problems_name_their_keys() {
    let (host, _dir) = host_with(&[], HashMap::new()).await;
    let settings = Settings::new()
        .with("image", Value::Text("busybox:1".into()))
        .with("ports", texts(&["8080:80", "80:http"]))
        .with("volumes", texts(&["relative"]))
        .with("restart_policy", Value::Text("on-failure:3".into()))
        .with("contaner_name", Value::Text("x".into()));
    let problems = host.validate_mode("docker", &settings).await.unwrap();
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        ["ports", "volumes", "restart_policy", "contaner_name"],
        "{problems:?}"
    );
    assert!(
        problems[2].message.contains("restart = \"on-failure\""),
        "{problems:?}"
    );
    assert!(
        problems[3]
            .message
            .contains("did you mean \"container_name\""),
        "{problems:?}"
    );
}
