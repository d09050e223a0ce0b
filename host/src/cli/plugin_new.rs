//! `keel plugins new NAME --kind KIND`: a Rust crate on the plugin SDK in `NAME/`, which builds
//! with `cargo build --release --target wasm32-wasip2` and runs under `plugins call` as written.
//! The templates (`plugin_new/*.rs`) are whole plugins; the e2e tests build each one.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde::Serialize;

use super::context::{Context, Exit, Failure};
use super::fmt::{BOLD, ok_mark, styled};
use super::report::{Report, emit};

#[derive(Clone, Copy, Debug, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    HealthCheck,
    Deployment,
    Hook,
}

/// `keel plugins new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The plugin's name (lower-case letters, digits and '-'): the directory, the crate and
    /// the name services.toml uses
    pub name: String,
    /// What the plugin is
    #[arg(long, value_enum)]
    pub kind: Kind,
    /// The SDK's directory (plugins/sdk of a Keel checkout) [default: that of the checkout
    /// this keel was built from, when it is still there]
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub sdk: Option<PathBuf>,
}

/// The SDK beside the sources this binary was built from.
fn built_from_sdk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/sdk")
}

fn valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

pub fn new(cx: &Context, args: NewArgs) -> Result<Exit, Failure> {
    let name = &args.name;
    if !valid_name(name) {
        return Err(Failure::new(
            Exit::Usage,
            format!(
                "{name:?} is not a plugin name: use lower-case letters, digits and '-', \
                 starting with a letter (e.g. redis-ping)"
            ),
        ));
    }
    let sdk = args.sdk.clone().unwrap_or_else(built_from_sdk);
    let sdk = std::fs::canonicalize(&sdk)
        .ok()
        .filter(|dir| dir.join("wit/keel-plugin.wit").is_file())
        .ok_or_else(|| {
            Failure::new(
                Exit::Failed,
                format!(
                    "no plugin SDK at {}: pass --sdk with the plugins/sdk directory of a Keel \
                     checkout",
                    sdk.display()
                ),
            )
        })?;
    let dir = std::path::absolute(name).map_err(|e| Failure::other(e.into()))?;
    if dir.exists() {
        return Err(Failure::new(
            Exit::Failed,
            format!(
                "{} already exists; choose another name or remove it",
                dir.display()
            ),
        ));
    }
    let krate = name.replace('-', "_");
    let source = match args.kind {
        Kind::HealthCheck => include_str!("plugin_new/health_check.rs"),
        Kind::Deployment => include_str!("plugin_new/deployment.rs"),
        Kind::Hook => include_str!("plugin_new/hook.rs"),
    }
    .replace("{{NAME}}", name)
    .replace("{{CRATE}}", &krate);
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
    let write = |path: PathBuf, text: &str| -> Result<(), Failure> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Failure::other(e.into()))?;
        }
        std::fs::write(&path, text)
            .map_err(|e| Failure::other(anyhow::anyhow!("cannot write {}: {e}", path.display())))
    };
    write(dir.join("Cargo.toml"), &manifest)?;
    write(dir.join("src/lib.rs"), &source)?;
    write(dir.join(".gitignore"), "/target\n")?;
    let created = Created {
        name: name.clone(),
        kind: args.kind,
        dir: dir.clone(),
        sdk,
        wasm: dir.join(format!("target/wasm32-wasip2/release/{krate}.wasm")),
    };
    Ok(emit(cx.json, &created))
}

/// What `plugins new` made.
#[derive(Serialize)]
struct Created {
    name: String,
    kind: Kind,
    dir: PathBuf,
    sdk: PathBuf,
    /// Where the build puts the component.
    wasm: PathBuf,
}

impl Report for Created {
    fn text(&self) -> String {
        format!(
            "{} Created {} in {} (on the SDK at {})\n\
             \n  cd {} && cargo build --release --target wasm32-wasip2\n  \
             keel plugins call {} describe\n",
            ok_mark(),
            styled(BOLD, &self.name),
            self.dir.display(),
            self.sdk.display(),
            self.dir.display(),
            self.wasm.display(),
        )
    }
}
