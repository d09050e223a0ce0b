//! `keel plugins new`: writes a plugin project into a new directory, ready to build.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::context::{Context, Exit, Failure};
use super::fmt::{BOLD, ok_mark, styled};
use super::report::{Report, emit};
use crate::plugins::scaffold::{self, Kind, Lang};

/// `keel plugins new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The plugin's name: the directory written, the .wasm file and what services.toml names
    pub name: String,
    /// What the plugin is
    #[arg(long, value_enum)]
    pub kind: Kind,
    /// The language of the project
    #[arg(long, value_enum)]
    pub lang: Lang,
    /// Where to create the project's directory [default: the current directory]
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub path: Option<PathBuf>,
}

#[derive(Serialize)]
struct Created {
    name: String,
    directory: PathBuf,
    files: Vec<&'static str>,
    build: String,
}

impl Report for Created {
    fn text(&self) -> String {
        let mut out = format!(
            "{} Created {} in {}\n",
            ok_mark(),
            styled(BOLD, &self.name),
            self.directory.display()
        );
        for f in &self.files {
            out.push_str(&format!("  {f}\n"));
        }
        out.push_str(&format!(
            "Build it with `{}`; README.md says how to try, install and use it.\n",
            self.build
        ));
        out
    }
}

pub fn new(cx: &Context, args: NewArgs) -> Result<Exit, Failure> {
    scaffold::check_name(&args.name).map_err(|e| Failure::new(Exit::Usage, e.to_string()))?;
    let parent = args.path.unwrap_or_else(|| PathBuf::from("."));
    let dir = std::path::absolute(parent.join(&args.name)).unwrap_or(parent.join(&args.name));
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
    let files = scaffold::files(&args.name, args.kind, args.lang);
    write_all(&dir, &files).map_err(|e| {
        Failure::new(
            Exit::Failed,
            format!("cannot write {}: {e:#}", dir.display()),
        )
    })?;
    let created = Created {
        name: args.name.clone(),
        build: format!("{}/{}", dir.display(), scaffold::build_command(args.lang)),
        directory: dir,
        files: files.iter().map(|f| f.path).collect(),
    };
    Ok(emit(cx.json, &created))
}

/// Writes the project into a temporary sibling directory and renames it into place, so a failed
/// write leaves no half project behind.
fn write_all(dir: &std::path::Path, files: &[scaffold::File]) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let parent = dir.parent().unwrap_or(std::path::Path::new("."));
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
