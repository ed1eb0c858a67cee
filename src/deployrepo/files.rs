//! Applying an image edit to an environment's directory in the checkout.

use std::path::{Path, PathBuf};

use super::edit::{EditError, FileEdit, ImageChange, KUSTOMIZATION_FILES, edit_manifest};
use super::image::{ImageName, TargetImage};
use super::recheck::current_images;
use super::values::{edit_values, is_values_file, values_images};
use crate::repoconfig::{Environment, HelmValues};

/// A directory holding this file is a Helm chart: its `templates/`, `crds/`
/// and vendored `charts/` are not edited (templates are not YAML; a
/// dependency's values are not the app's).
const CHART_FILE: &str = "Chart.yaml";
/// Directories of a chart the writer leaves alone.
const CHART_INTERNALS: &[&str] = &["templates", "crds", "charts"];

/// Most manifest files read from one environment directory.
pub const MAX_MANIFEST_FILES: usize = 1_000;
/// Deepest directory level searched below an environment's path.
pub const MAX_DIRECTORY_DEPTH: usize = 8;
/// Largest manifest file read, in bytes.
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

/// Why an environment's files could not be edited.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// Listing or reading the directory failed.
    #[error("read {path}")]
    Read {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Writing an edited file failed.
    #[error("write {path}")]
    Write {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The environment holds more files, or larger ones, than the limits allow.
    #[error("{path}: {what} exceeds the limit")]
    TooLarge {
        /// The path.
        path: String,
        /// Which limit.
        what: &'static str,
    },
    /// The environment directory does not exist.
    #[error("environment directory {0} does not exist")]
    MissingDirectory(String),
    /// A manifest refused the edit.
    #[error(transparent)]
    Edit(#[from] EditError),
}

/// One environment's manifests and Helm values files: relative path and
/// text, in path order.
pub struct Manifests {
    files: Vec<(String, String)>,
    /// The environment's `helm_values`, with its file as a repository path.
    values: Option<(String, HelmValues)>,
}

/// How a file is edited.
enum FileRole<'a> {
    /// Workloads and kustomizations.
    Manifest,
    /// Helm values: where the mapping says, or the common shapes.
    Values(Option<&'a HelmValues>),
    /// Values-shaped, but the environment's mapping names another file.
    Skipped,
}

impl Manifests {
    /// Read the YAML files under `env`'s path (relative to `root`); symlinks
    /// and a chart's templates, CRDs and vendored charts are skipped.
    pub fn read(root: &Path, env: &Environment) -> Result<Self, FilesError> {
        let env_path = env.path.as_str();
        let dir = root.join(env_path);
        if !dir.is_dir() {
            return Err(FilesError::MissingDirectory(env_path.to_string()));
        }
        let mut paths = Vec::new();
        collect(&dir, 0, &mut paths)?;
        paths.sort();
        let mut files = Vec::new();
        for path in paths {
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            let read = |source| FilesError::Read {
                path: relative.clone(),
                source,
            };
            let size = std::fs::metadata(&path).map_err(read)?.len();
            if size > MAX_MANIFEST_BYTES {
                return Err(FilesError::TooLarge {
                    path: relative,
                    what: "file size",
                });
            }
            let text = std::fs::read_to_string(&path).map_err(read)?;
            files.push((relative, text));
        }
        let values = env.helm_values.as_ref().map(|m| {
            let file = Path::new(env_path).join(&m.file);
            (file.to_string_lossy().replace('\\', "/"), m.clone())
        });
        Ok(Manifests { files, values })
    }

    fn role<'a>(&'a self, file: &str, text: &str) -> FileRole<'a> {
        match &self.values {
            Some((path, mapping)) if path == file => FileRole::Values(Some(mapping)),
            _ if !is_values_file(file, text) => FileRole::Manifest,
            Some(_) => FileRole::Skipped,
            None => FileRole::Values(None),
        }
    }

    /// The references to `name` that `text`, as the file `file` of this
    /// environment, deploys.
    pub fn images_in(&self, file: &str, text: &str, name: &ImageName) -> Vec<String> {
        match self.role(file, text) {
            FileRole::Manifest => current_images(file, text, name),
            FileRole::Values(mapping) => values_images(text, name, mapping),
            FileRole::Skipped => Vec::new(),
        }
    }

    fn edit_file(
        &self,
        file: &str,
        text: &str,
        image: &TargetImage,
    ) -> Result<Option<FileEdit>, EditError> {
        match self.role(file, text) {
            FileRole::Manifest => edit_manifest(file, text, image).map(Some),
            FileRole::Values(mapping) => edit_values(file, text, image, mapping).map(Some),
            FileRole::Skipped => Ok(None),
        }
    }

    /// Relative paths of the files, in order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.iter().map(|(f, _)| f.as_str())
    }

    /// The app's image references in these files now.
    pub fn current_images(&self, image: &TargetImage) -> Vec<String> {
        self.candidates(image)
            .flat_map(|(file, text)| self.images_in(file, text, image.name()))
            .collect()
    }

    /// Edit every file in memory; nothing is written unless every file accepts the edit.
    pub fn edit(&mut self, image: &TargetImage) -> Result<Vec<(usize, ImageChange)>, FilesError> {
        let mut edited = Vec::new();
        for (index, (file, text)) in self.files.iter().enumerate() {
            if !mentions(text, image) {
                continue;
            }
            if let Some(edit) = self.edit_file(file, text, image)?
                && !edit.changes.is_empty()
            {
                edited.push((index, edit));
            }
        }
        let mut changes = Vec::new();
        for (index, edit) in edited {
            self.files[index].1 = edit.text;
            changes.extend(edit.changes.into_iter().map(|c| (index, c)));
        }
        Ok(changes)
    }

    /// Write the files at `indices` back into `checkout`'s working tree;
    /// returns their relative paths.
    pub fn write(
        &self,
        checkout: &super::git::Checkout,
        indices: &[usize],
    ) -> Result<Vec<String>, FilesError> {
        let mut written = Vec::new();
        for &index in indices {
            let Some((file, text)) = self.files.get(index) else {
                continue;
            };
            checkout
                .write_file(file, text)
                .map_err(|source| FilesError::Write {
                    path: file.clone(),
                    source,
                })?;
            written.push(file.clone());
        }
        Ok(written)
    }

    fn candidates<'a>(
        &'a self,
        image: &'a TargetImage,
    ) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.files
            .iter()
            .filter(|(_, text)| mentions(text, image))
            .map(|(f, t)| (f.as_str(), t.as_str()))
    }
}

/// A cheap pre-filter: a file that never names the repository's last path
/// segment cannot reference it, however the registry is spelled.
fn mentions(text: &str, image: &TargetImage) -> bool {
    let last = image.repository().rsplit('/').next().unwrap_or_default();
    text.contains(last)
}

fn is_manifest(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    name.ends_with(".yaml") || name.ends_with(".yml") || KUSTOMIZATION_FILES.contains(&name)
}

fn collect(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), FilesError> {
    if depth > MAX_DIRECTORY_DEPTH {
        return Err(FilesError::TooLarge {
            path: dir.display().to_string(),
            what: "directory depth",
        });
    }
    let read = |source| FilesError::Read {
        path: dir.display().to_string(),
        source,
    };
    let chart = dir.join(CHART_FILE).is_file();
    for entry in std::fs::read_dir(dir).map_err(read)? {
        let entry = entry.map_err(read)?;
        let path = entry.path();
        let kind = entry.file_type().map_err(read)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let chart_internal = chart && kind.is_dir() && CHART_INTERNALS.contains(&name.as_str());
        if kind.is_symlink() || name.starts_with('.') || chart_internal {
            continue;
        }
        if kind.is_dir() {
            collect(&path, depth + 1, out)?;
        } else if kind.is_file() && is_manifest(&path) {
            if out.len() >= MAX_MANIFEST_FILES {
                return Err(FilesError::TooLarge {
                    path: dir.display().to_string(),
                    what: "file count",
                });
            }
            out.push(path);
        }
    }
    Ok(())
}
