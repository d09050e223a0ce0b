//! `keel plugins new`: the files of a new plugin project, for one kind and language. Pure: it
//! only says what to write; the CLI writes it. Each template is a plugin that works unchanged
//! (a tcp check, a mode that runs a program, a hook that logs and sets a variable), so that an
//! author starts from something that passes `plugins call` and runs under the daemon, and edits
//! from there.

use thiserror::Error;

/// What the plugin is, which decides its world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
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

/// The one command that builds a project, run in its directory.
pub fn build_command(lang: Lang) -> &'static str {
    match lang {
        Lang::Python => "build.sh",
    }
}

/// The project's files. `name` must have passed [`check_name`].
pub fn files(name: &str, kind: Kind, lang: Lang) -> Vec<File> {
    match lang {
        Lang::Python => python(name, kind),
    }
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
            contents: readme(name, kind, "./build.sh", &format!("{name}.wasm")),
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
            let files = files("my-plugin", kind, Lang::Python);
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
