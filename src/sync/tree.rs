//! A read-only view of the files of one deploy-repo revision.
//!
//! Rendering reads through [`ManifestTree`] so that it works the same on the
//! tree of a git commit (what sync applies, and what a rollback re-renders) and
//! on an in-memory map (unit tests).

use std::collections::BTreeMap;

/// What a path in the tree is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A file and its bytes.
    File(Vec<u8>),
    /// A directory and the names of its entries, sorted.
    Dir(Vec<String>),
}

/// Why the tree could not be read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TreeError {
    /// The backing store failed (a damaged git object database).
    #[error("read {path} from the tree: {message}")]
    Backend {
        /// The path being read.
        path: String,
        /// The backend's message.
        message: String,
    },
}

/// Files of one revision, addressed by `/`-separated paths relative to the
/// repository root (`""` is the root).
pub trait ManifestTree {
    /// The node at `path`, or `None` when nothing is there.
    fn node(&self, path: &str) -> Result<Option<Node>, TreeError>;

    /// An id of what is at `path` (`""`: the whole tree) that changes
    /// whenever any file there does (a git tree or blob id), for
    /// remembering what was rendered from it; `None` when the tree keeps
    /// no ids or nothing is there.
    fn id_at(&self, path: &str) -> Option<String> {
        let _ = path;
        None
    }
}

/// A tree held in memory: file path to content.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    files: BTreeMap<String, Vec<u8>>,
}

impl MemoryTree {
    /// A tree with these files.
    pub fn new<P: Into<String>, C: Into<Vec<u8>>>(files: impl IntoIterator<Item = (P, C)>) -> Self {
        MemoryTree {
            files: files
                .into_iter()
                .map(|(p, c)| (p.into(), c.into()))
                .collect(),
        }
    }
}

impl ManifestTree for MemoryTree {
    fn node(&self, path: &str) -> Result<Option<Node>, TreeError> {
        if let Some(content) = self.files.get(path) {
            return Ok(Some(Node::File(content.clone())));
        }
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        let mut names: Vec<String> = self
            .files
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .filter_map(|rest| rest.split('/').next())
            .map(String::from)
            .collect();
        names.sort();
        names.dedup();
        Ok((!names.is_empty()).then_some(Node::Dir(names)))
    }
}

/// Join `relative` onto directory `base` and resolve `.` and `..`; `None`
/// when the result would leave the repository or `relative` is absolute.
pub fn join(base: &str, relative: &str) -> Option<String> {
    if relative.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for part in relative.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            name => parts.push(name),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_and_resolve_inside_the_repository() {
        let cases = [
            ("plain", "envs/dev", "app.yaml", Some("envs/dev/app.yaml")),
            ("dot", "envs/dev", "./a/b.yaml", Some("envs/dev/a/b.yaml")),
            ("parent", "envs/dev", "../base", Some("envs/base")),
            ("to root", "envs", "..", Some("")),
            ("escape", "envs", "../../etc", None),
            ("absolute", "envs", "/etc/passwd", None),
        ];
        for (name, base, rel, want) in cases {
            assert_eq!(join(base, rel).as_deref(), want, "{name}");
        }
    }

    #[test]
    fn a_memory_tree_lists_directories_and_reads_files() {
        let tree = MemoryTree::new([("a/x.yaml", "x"), ("a/b/y.yaml", "y"), ("c.txt", "c")]);
        assert_eq!(
            tree.node("a").unwrap(),
            Some(Node::Dir(vec!["b".into(), "x.yaml".into()]))
        );
        assert_eq!(tree.node("c.txt").unwrap(), Some(Node::File(b"c".to_vec())));
        assert_eq!(
            tree.node("").unwrap(),
            Some(Node::Dir(vec!["a".into(), "c.txt".into()]))
        );
        assert_eq!(tree.node("missing").unwrap(), None);
    }
}
