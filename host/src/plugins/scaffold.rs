//! `keel plugins new`: the files of a new plugin project, for one kind and language. Pure: it
//! only says what to write; the CLI writes it. The templates live in `plugins/templates/`
//! (Rust crates on the SDK, componentize-py apps) and are embedded here. Each template is a plugin that works unchanged
//! (a tcp check, a mode that runs a program, a hook that logs and sets a variable), so that an
//! author starts from something that passes `plugins call` and runs under the daemon, and edits
//! from there.

use std::path::Path;

use thiserror::Error;

/// What the plugin is, which decides its world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    HealthCheck,
    Deployment,
    Hook,
}

impl Kind {
    /// The `keel:plugin` world a plugin of this kind targets.
    pub fn world(self) -> &'static str {
        match self {
            Kind::HealthCheck => "health-check-plugin",
            Kind::Deployment => "deployment-plugin",
            Kind::Hook => "lifecycle-plugin",
        }
    }
}

/// The language the project is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Lang {
    /// A crate on the plugin SDK
    Rust,
    /// A componentize-py app, with the WIT beside it
    Python,
}

/// One file of the project, relative to its directory.
#[derive(Debug)]
pub struct File {
    pub path: &'static str,
    pub contents: String,
    pub executable: bool,
}

#[derive(Debug, Error, PartialEq)]
pub enum NameError {
    #[error("a plugin name is lowercase letters, digits and '-', starting with a letter: {0:?}")]
    Malformed(String),
    #[error("{0:?} is a bundled plugin's name; a plugin may not take it")]
    Bundled(String),
}

/// Checks a new plugin's name: it becomes the file name, the name in `describe` and what
/// services.toml writes.
pub fn check_name(name: &str) -> Result<(), NameError> {
    let well_formed = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if !well_formed {
        return Err(NameError::Malformed(name.to_string()));
    }
    if keel_plugin_host::is_bundled(name) {
        return Err(NameError::Bundled(name.to_string()));
    }
    Ok(())
}

const WIT: &str = include_str!("../../../wit/0.1.2/keel-plugin.wit");

const PY_CHECK: &str = include_str!("../../../plugins/templates/python/health-check/app.py");
const PY_DEPLOYMENT: &str = include_str!("../../../plugins/templates/python/deployment/app.py");
const PY_HOOK: &str = include_str!("../../../plugins/templates/python/hook/app.py");
const RS_CHECK: &str = include_str!("../../../plugins/templates/rust/health_check.rs");
const RS_DEPLOYMENT: &str = include_str!("../../../plugins/templates/rust/deployment.rs");
const RS_HOOK: &str = include_str!("../../../plugins/templates/rust/hook.rs");

/// Where a Rust project's build puts the component, relative to the project.
pub fn rust_wasm(name: &str) -> String {
    format!(
        "target/wasm32-wasip2/release/{}.wasm",
        name.replace('-', "_")
    )
}

/// The one command that builds a project, run in its directory.
pub fn build_command(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust => "cargo build --release --target wasm32-wasip2",
        Lang::Python => "./build.sh",
    }
}

/// Where the build puts the component, relative to the project.
pub fn wasm_path(name: &str, lang: Lang) -> String {
    match lang {
        Lang::Rust => rust_wasm(name),
        Lang::Python => format!("{name}.wasm"),
    }
}

/// The project's files. `name` must have passed [`check_name`]; `sdk` is the SDK's directory
/// a Rust crate depends on.
pub fn files(name: &str, kind: Kind, lang: Lang, sdk: &Path) -> Vec<File> {
    match lang {
        Lang::Rust => rust(name, kind, sdk),
        Lang::Python => python(name, kind),
    }
}

fn rust(name: &str, kind: Kind, sdk: &Path) -> Vec<File> {
    let source = match kind {
        Kind::HealthCheck => RS_CHECK,
        Kind::Deployment => RS_DEPLOYMENT,
        Kind::Hook => RS_HOOK,
    }
    .replace("{{NAME}}", name)
    .replace("{{CRATE}}", &name.replace('-', "_"));
    let manifest = format!(
        "[package]\n\
         name = \"{name}\"\n\
         version = \"0.1.0\"\n\
         edition = \"2024\"\n\
         \n\
         # A WebAssembly component: cargo build --release --target wasm32-wasip2\n\
         [lib]\n\
         crate-type = [\"cdylib\"]\n\
         \n\
         [dependencies]\n\
         keel-plugin-sdk = {{ path = {sdk:?} }}\n\
         \n\
         [profile.release]\n\
         opt-level = \"s\"\n\
         lto = true\n\
         strip = true\n\
         panic = \"abort\"\n\
         codegen-units = 1\n",
        sdk = sdk.display().to_string(),
    );
    vec![
        File {
            path: "Cargo.toml",
            contents: manifest,
            executable: false,
        },
        File {
            path: "src/lib.rs",
            contents: source,
            executable: false,
        },
        File {
            path: "settings.json",
            contents: example_settings(kind).to_string(),
            executable: false,
        },
        File {
            path: ".gitignore",
            contents: "/target\n".to_string(),
            executable: false,
        },
        File {
            path: "README.md",
            contents: readme(name, kind, build_command(Lang::Rust), &rust_wasm(name)),
            executable: false,
        },
    ]
}

fn python(name: &str, kind: Kind) -> Vec<File> {
    let app = match kind {
        Kind::HealthCheck => PY_CHECK,
        Kind::Deployment => PY_DEPLOYMENT,
        Kind::Hook => PY_HOOK,
    };
    let build = format!(
        "#!/bin/sh\n\
         # Builds {name}.wasm from app.py (pip install componentize-py).\n\
         set -e\n\
         cd \"$(dirname \"$0\")\"\n\
         exec componentize-py -d wit -w {world} componentize app -o {name}.wasm\n",
        world = kind.world()
    );
    vec![
        File {
            path: "app.py",
            contents: app.replace("{{name}}", name),
            executable: false,
        },
        File {
            path: "wit/keel-plugin.wit",
            contents: WIT.to_string(),
            executable: false,
        },
        File {
            path: "build.sh",
            contents: build,
            executable: true,
        },
        File {
            path: "settings.json",
            contents: example_settings(kind).to_string(),
            executable: false,
        },
        File {
            path: ".gitignore",
            contents: "*.wasm\n__pycache__/\n".to_string(),
            executable: false,
        },
        File {
            path: "README.md",
            contents: readme(
                name,
                kind,
                build_command(Lang::Python),
                &wasm_path(name, Lang::Python),
            ),
            executable: false,
        },
    ]
}

/// Settings the template accepts as it is, for `plugins call --settings @settings.json`.
fn example_settings(kind: Kind) -> &'static str {
    match kind {
        Kind::HealthCheck => "{\"host\": \"127.0.0.1\", \"port\": 6379}\n",
        Kind::Deployment => "{\"program\": \"/bin/sleep\", \"args\": [\"300\"]}\n",
        Kind::Hook => "{\"phases\": [\"before-start\", \"after-stop\"]}\n",
    }
}

/// The project's README: build, try, install, use.
fn readme(name: &str, kind: Kind, build: &str, wasm: &str) -> String {
    let (try_it, grant, use_it) = match kind {
        Kind::HealthCheck => (
            format!(
                "keel plugins call {wasm} check --settings @settings.json --grant network=127.0.0.1:6379"
            ),
            "network = [\"127.0.0.1:6379\"]",
            format!(
                "[services.cache.health_check]\ntype = \"{name}\"\n\n[services.cache.health_check.{name}]\nhost = \"127.0.0.1\"\nport = 6379"
            ),
        ),
        Kind::Deployment => (
            format!(
                "keel plugins call {wasm} start --settings @settings.json --grant path=/bin/sleep"
            ),
            "paths = [\"/bin/sleep\"]",
            format!(
                "[services.worker.deployment]\nmode = \"{name}\"\n\n[services.worker.deployment.{name}]\nprogram = \"/bin/sleep\"\nargs = [\"300\"]"
            ),
        ),
        Kind::Hook => (
            format!("keel plugins call {wasm} before-start --settings @settings.json"),
            "# a hook that asks for nothing needs no grant",
            format!("[[services.worker.hooks]]\nplugin = \"{name}\""),
        ),
    };
    format!(
        "# {name}\n\n\
         A Keel plugin ({world}).\n\n\
         ```sh\n\
         {build}                      # build {wasm}\n\
         {try_it}\n\
         keel plugins install {wasm}   # check, precompile, place in the plugins directory\n\
         ```\n\n\
         Grant it what it asks for, and use it, in services.toml:\n\n\
         ```toml\n\
         [plugins.grants.{name}]\n\
         {grant}\n\n\
         {use_it}\n\
         ```\n",
        world = kind.world(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_what_a_file_and_a_toml_key_can_hold() {
        assert_eq!(check_name("redis-ping"), Ok(()));
        assert_eq!(check_name("pg2"), Ok(()));
        for bad in ["", "Redis", "2fast", "a_b", "a b", "trailing-", "../x"] {
            assert!(
                matches!(check_name(bad), Err(NameError::Malformed(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            check_name("tcp"),
            Err(NameError::Bundled("tcp".to_string()))
        );
    }

    #[test]
    fn every_template_carries_its_name_and_world() {
        for kind in [Kind::HealthCheck, Kind::Deployment, Kind::Hook] {
            let rust = files("my-plugin", kind, Lang::Rust, Path::new("/sdk"));
            let lib = &rust
                .iter()
                .find(|f| f.path == "src/lib.rs")
                .unwrap()
                .contents;
            assert!(!lib.contains("{{"), "{kind:?}");
            assert!(lib.contains("\"my-plugin\""), "{kind:?}");
            let manifest = &rust
                .iter()
                .find(|f| f.path == "Cargo.toml")
                .unwrap()
                .contents;
            assert!(manifest.contains("keel-plugin-sdk = { path = \"/sdk\" }"));
            let files = files("my-plugin", kind, Lang::Python, Path::new("/sdk"));
            let app = &files.iter().find(|f| f.path == "app.py").unwrap().contents;
            assert!(!app.contains("{{name}}"), "{kind:?}");
            assert!(app.contains("NAME = \"my-plugin\""), "{kind:?}");
            let build = &files.iter().find(|f| f.path == "build.sh").unwrap();
            assert!(build.executable);
            assert!(build.contents.contains(kind.world()));
            assert!(build.contents.contains("-o my-plugin.wasm"));
        }
    }
}
