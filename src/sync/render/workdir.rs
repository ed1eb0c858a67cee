//! Write the files of one revision into a private temporary directory for a
//! render tool to read: the tools never see a working tree, only what the
//! commit holds.

use std::path::{Path, PathBuf};

use super::RenderError;
use crate::sync::tree::{ManifestTree, Node};

/// Largest revision written out, in bytes of file content (256 MiB).
pub const MAX_TREE_BYTES: u64 = 256 * 1024 * 1024;
/// Most files of a revision written out.
pub const MAX_TREE_FILES: usize = 100_000;
/// Deepest directory nesting written out.
pub const MAX_TREE_DEPTH: usize = 64;

/// A revision's files on disk, deleted when dropped. The directory is
/// created with mode 0700; `repo` holds the files, `home` is the tools'
/// home and temporary directory.
#[derive(Debug)]
pub struct Workdir {
    dir: tempfile::TempDir,
}

impl Workdir {
    /// Write the files of `tree` at `paths` (files, or directories with
    /// everything below them; `""` is the whole tree) under a fresh
    /// private directory, at the same paths. A symbolic link is written as
    /// a file holding its target, so no tool follows it out of the revision.
    pub fn write(tree: &dyn ManifestTree, paths: &[&str]) -> Result<Self, RenderError> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new()
            .prefix("slipway-render-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()
            .map_err(|e| workdir_err("create", &e))?;
        let workdir = Workdir { dir };
        std::fs::create_dir(workdir.home()).map_err(|e| workdir_err("create", &e))?;
        let mut budget = Budget::default();
        for path in paths {
            let to = workdir.repo().join(path);
            match tree.node(path)? {
                Some(Node::File(bytes)) => write_file(&to, &bytes, &mut budget)?,
                Some(Node::Dir(_)) => write_dir(tree, path, &to, 0, &mut budget)?,
                None => {
                    return Err(RenderError::Missing {
                        path: path.to_string(),
                    });
                }
            }
        }
        Ok(workdir)
    }

    /// The root of the revision's files.
    pub fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    /// The tools' home and temporary directory.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }
}

#[derive(Default)]
struct Budget {
    bytes: u64,
    files: usize,
}

fn write_dir(
    tree: &dyn ManifestTree,
    path: &str,
    to: &Path,
    depth: usize,
    budget: &mut Budget,
) -> Result<(), RenderError> {
    if depth > MAX_TREE_DEPTH {
        return Err(RenderError::TooDeep { path: path.into() });
    }
    std::fs::create_dir_all(to).map_err(|e| workdir_err("write", &e))?;
    let Some(Node::Dir(names)) = tree.node(path)? else {
        return Ok(());
    };
    for name in names {
        let child = super::plain::child_path(path, &name);
        match tree.node(&child)? {
            Some(Node::Dir(_)) => write_dir(tree, &child, &to.join(&name), depth + 1, budget)?,
            Some(Node::File(bytes)) => write_file(&to.join(&name), &bytes, budget)?,
            None => {}
        }
    }
    Ok(())
}

fn write_file(to: &Path, bytes: &[u8], budget: &mut Budget) -> Result<(), RenderError> {
    budget.bytes += bytes.len() as u64;
    budget.files += 1;
    if budget.bytes > MAX_TREE_BYTES || budget.files > MAX_TREE_FILES {
        return Err(RenderError::RevisionTooLarge);
    }
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| workdir_err("write", &e))?;
    }
    std::fs::write(to, bytes).map_err(|e| workdir_err("write", &e))
}

fn workdir_err(action: &str, e: &std::io::Error) -> RenderError {
    RenderError::Workdir {
        message: format!("{action}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::tree::MemoryTree;

    #[test]
    fn every_file_of_the_revision_is_written_under_a_private_directory() {
        use std::os::unix::fs::PermissionsExt;
        let tree = MemoryTree::new([("a/b/c.yaml", "c"), ("top.txt", "t")]);
        let workdir = Workdir::write(&tree, &[""]).unwrap();
        let repo = workdir.repo();
        assert_eq!(std::fs::read(repo.join("a/b/c.yaml")).unwrap(), b"c");
        assert_eq!(std::fs::read(repo.join("top.txt")).unwrap(), b"t");
        assert!(workdir.home().is_dir());
        let mode = std::fs::metadata(repo.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "private: {mode:o}");
        let root = repo.parent().unwrap().to_path_buf();
        drop(workdir);
        assert!(!root.exists(), "deleted when dropped");
    }

    #[test]
    fn only_the_paths_asked_for_are_written() {
        let tree = MemoryTree::new([
            ("charts/web/Chart.yaml", "c"),
            ("charts/web/templates/t.yaml", "t"),
            ("envs/prod/values.yaml", "v"),
            ("envs/prod/other.yaml", "o"),
            ("secret.txt", "s"),
        ]);
        let workdir = Workdir::write(&tree, &["charts/web", "envs/prod/values.yaml"]).unwrap();
        let repo = workdir.repo();
        assert!(repo.join("charts/web/templates/t.yaml").is_file());
        assert!(repo.join("envs/prod/values.yaml").is_file());
        assert!(!repo.join("envs/prod/other.yaml").exists());
        assert!(!repo.join("secret.txt").exists());
        assert!(matches!(
            Workdir::write(&tree, &["nope"]),
            Err(RenderError::Missing { .. })
        ));
    }
}
