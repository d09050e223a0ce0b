//! `keel plugins new`: writes a plugin project into a new directory, ready to build. What the
//! project holds is `plugins::scaffold`'s; this writes it, whole or not at all.

use std::path::{Path, PathBuf};

use clap::Args;
use serde::Serialize;

use super::context::{Context, Exit, Failure};
use super::fmt::{BOLD, ok_mark, styled};
use super::report::{Report, emit};
use crate::plugins::scaffold::{self, Kind, Lang};

/// `keel plugins new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The plugin's name (lower-case letters, digits and '-'): the directory, the .wasm file
    /// and what services.toml names
    pub name: String,
    /// What the plugin is
    #[arg(long, value_enum)]
    pub kind: Kind,
    /// The language of the project
    #[arg(long, value_enum, default_value = "rust")]
    pub lang: Lang,
    /// Where to create the project's directory [default: the current directory]
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub path: Option<PathBuf>,
    /// Rust: the SDK's directory (plugins/sdk of a Keel checkout) [default: that of the
    /// checkout this keel was built from, when it is still there]
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub sdk: Option<PathBuf>,
}

/// The SDK beside the sources this binary was built from.
fn built_from_sdk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/sdk")
}

#[derive(Serialize)]
struct Created {
    name: String,
    kind: Kind,
    lang: Lang,
    directory: PathBuf,
    files: Vec<&'static str>,
    /// The command that builds it, run in `directory`.
    build: &'static str,
    /// Where that build puts the component.
    wasm: PathBuf,
    /// The SDK a Rust crate depends on.
    #[serde(skip_serializing_if = "Option::is_none")]
    sdk: Option<PathBuf>,
}

impl Report for Created {
    fn text(&self) -> String {
        let mut out = format!(
            "{} Created {} in {}",
            ok_mark(),
            styled(BOLD, &self.name),
            self.directory.display()
        );
        if let Some(sdk) = &self.sdk {
            out.push_str(&format!(" (on the SDK at {})", sdk.display()));
        }
        out.push('\n');
        for f in &self.files {
            out.push_str(&format!("  {f}\n"));
        }
        out.push_str(&format!(
            "\n  cd {} && {}\n  keel plugins call {} describe\n\nIts README.md says how to try, install and use it.\n",
            self.directory.display(),
            self.build,
            self.wasm.display()
        ));
        out
    }
}

pub fn new(cx: &Context, args: NewArgs) -> Result<Exit, Failure> {
    scaffold::check_name(&args.name).map_err(|e| Failure::new(Exit::Usage, e.to_string()))?;
    let sdk = match args.lang {
        Lang::Python => None,
        Lang::Rust => Some(find_sdk(args.sdk.clone())?),
    };
    let parent = args.path.clone().unwrap_or_else(|| PathBuf::from("."));
    let dir = std::path::absolute(parent.join(&args.name)).map_err(|e| Failure::other(e.into()))?;
    // Never write into something that exists: an author's files are not overwritten.
    if dir.symlink_metadata().is_ok() {
        return Err(Failure::new(
            Exit::Failed,
            format!(
                "{} already exists; choose another name or --path",
                dir.display()
            ),
        ));
    }
    let files = scaffold::files(
        &args.name,
        args.kind,
        args.lang,
        sdk.as_deref().unwrap_or(Path::new("")),
    );
    write_all(&dir, &files).map_err(|e| {
        Failure::new(
            Exit::Failed,
            format!("cannot write {}: {e:#}", dir.display()),
        )
    })?;
    let created = Created {
        name: args.name.clone(),
        kind: args.kind,
        lang: args.lang,
        build: scaffold::build_command(args.lang),
        wasm: dir.join(scaffold::wasm_path(&args.name, args.lang)),
        directory: dir,
        files: files.iter().map(|f| f.path).collect(),
        sdk,
    };
    Ok(emit(cx.json, &created))
}

fn find_sdk(flag: Option<PathBuf>) -> Result<PathBuf, Failure> {
    let sdk = flag.unwrap_or_else(built_from_sdk);
    std::fs::canonicalize(&sdk)
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
        })
}

/// Writes the project into a temporary sibling directory and renames it into place, so a failed
/// write leaves no half project behind.
fn write_all(dir: &Path, files: &[scaffold::File]) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let tmp = tempfile::Builder::new()
        .prefix(".keel-new-")
        .tempdir_in(parent)?;
    for f in files {
        let path = tmp.path().join(f.path);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p)?;
        }
        std::fs::write(&path, &f.contents)?;
        if f.executable {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        }
    }
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))?;
    std::fs::rename(tmp.keep(), dir)?;
    Ok(())
}
