//! The example deploy repository built into the binary, so that `slipway run`
//! works on an empty directory: a bare repository created once in the state
//! directory, holding `examples/deploy-repo`: its apps (plain YAML, a
//! kustomize overlay and a Helm chart), its policy and the policy's test cases.

use std::path::Path;

use git2::{Repository, Signature};

/// Files of the example deploy repository: path in the repo, content.
pub const EXAMPLE_FILES: &[(&str, &str)] = &[
    (
        "slipway.yaml",
        include_str!("../examples/deploy-repo/slipway.yaml"),
    ),
    (
        "policies/default.yaml",
        include_str!("../examples/deploy-repo/policies/default.yaml"),
    ),
    (
        "policies/tests/default.yaml",
        include_str!("../examples/deploy-repo/policies/tests/default.yaml"),
    ),
    (
        "apps/api/dev/values.yaml",
        include_str!("../examples/deploy-repo/apps/api/dev/values.yaml"),
    ),
    (
        "apps/api/prod/values.yaml",
        include_str!("../examples/deploy-repo/apps/api/prod/values.yaml"),
    ),
    (
        "apps/hello/dev/deployment.yaml",
        include_str!("../examples/deploy-repo/apps/hello/dev/deployment.yaml"),
    ),
    (
        "apps/hello/dev/service.yaml",
        include_str!("../examples/deploy-repo/apps/hello/dev/service.yaml"),
    ),
    (
        "apps/hello/prod/deployment.yaml",
        include_str!("../examples/deploy-repo/apps/hello/prod/deployment.yaml"),
    ),
    (
        "apps/hello/prod/service.yaml",
        include_str!("../examples/deploy-repo/apps/hello/prod/service.yaml"),
    ),
    (
        "apps/hello/staging/deployment.yaml",
        include_str!("../examples/deploy-repo/apps/hello/staging/deployment.yaml"),
    ),
    (
        "apps/hello/staging/service.yaml",
        include_str!("../examples/deploy-repo/apps/hello/staging/service.yaml"),
    ),
    (
        "apps/shop/base/deployment.yaml",
        include_str!("../examples/deploy-repo/apps/shop/base/deployment.yaml"),
    ),
    (
        "apps/shop/base/kustomization.yaml",
        include_str!("../examples/deploy-repo/apps/shop/base/kustomization.yaml"),
    ),
    (
        "apps/shop/base/service.yaml",
        include_str!("../examples/deploy-repo/apps/shop/base/service.yaml"),
    ),
    (
        "apps/shop/overlays/dev/kustomization.yaml",
        include_str!("../examples/deploy-repo/apps/shop/overlays/dev/kustomization.yaml"),
    ),
    (
        "apps/shop/overlays/prod/kustomization.yaml",
        include_str!("../examples/deploy-repo/apps/shop/overlays/prod/kustomization.yaml"),
    ),
    (
        "apps/shop/overlays/prod/replicas.yaml",
        include_str!("../examples/deploy-repo/apps/shop/overlays/prod/replicas.yaml"),
    ),
    (
        "charts/api/Chart.yaml",
        include_str!("../examples/deploy-repo/charts/api/Chart.yaml"),
    ),
    (
        "charts/api/templates/deployment.yaml",
        include_str!("../examples/deploy-repo/charts/api/templates/deployment.yaml"),
    ),
    (
        "charts/api/templates/service.yaml",
        include_str!("../examples/deploy-repo/charts/api/templates/service.yaml"),
    ),
    (
        "charts/api/values.yaml",
        include_str!("../examples/deploy-repo/charts/api/values.yaml"),
    ),
];

/// Why the example repository could not be created.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// A git operation failed.
    #[error("create example deploy repo at {path}")]
    Git {
        /// The repository.
        path: String,
        /// The cause.
        #[source]
        source: git2::Error,
    },
}

/// Create a bare repository at `path` whose `branch` holds `files` in one
/// commit. Does nothing when a repository is already there.
pub fn create_bare_repo(
    path: &Path,
    branch: &str,
    files: &[(&str, &str)],
) -> Result<bool, BootstrapError> {
    let err = |source| BootstrapError::Git {
        path: path.display().to_string(),
        source,
    };
    if Repository::open_bare(path).is_ok() {
        return Ok(false);
    }
    let repo = Repository::init_bare(path).map_err(err)?;
    let mut index = git2::Index::new().map_err(err)?;
    for (file, content) in files {
        let oid = repo.blob(content.as_bytes()).map_err(err)?;
        let entry = git2::IndexEntry {
            ctime: git2::IndexTime::new(0, 0),
            mtime: git2::IndexTime::new(0, 0),
            dev: 0,
            ino: 0,
            mode: 0o100644,
            uid: 0,
            gid: 0,
            file_size: content.len() as u32,
            id: oid,
            flags: 0,
            flags_extended: 0,
            path: file.as_bytes().to_vec(),
        };
        index.add(&entry).map_err(err)?;
    }
    let tree_id = index.write_tree_to(&repo).map_err(err)?;
    let tree = repo.find_tree(tree_id).map_err(err)?;
    let signature = Signature::now("Slipway", "slipway@localhost").map_err(err)?;
    let reference = format!("refs/heads/{branch}");
    repo.commit(
        Some(&reference),
        &signature,
        &signature,
        "Example deploy repository",
        &tree,
        &[],
    )
    .map_err(err)?;
    repo.set_head(&reference).map_err(err)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_repo_is_created_once_with_every_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deploy.git");
        assert!(create_bare_repo(&path, "main", EXAMPLE_FILES).unwrap());
        assert!(
            !create_bare_repo(&path, "main", EXAMPLE_FILES).unwrap(),
            "second call leaves it alone"
        );
        let repo = Repository::open_bare(&path).unwrap();
        let tree = repo
            .revparse_single("main^{tree}")
            .unwrap()
            .peel_to_tree()
            .unwrap();
        for (file, content) in EXAMPLE_FILES {
            let entry = tree.get_path(Path::new(file)).unwrap();
            let blob = repo.find_blob(entry.id()).unwrap();
            assert_eq!(blob.content(), content.as_bytes(), "{file}");
        }
        let config =
            crate::repoconfig::RepoConfig::parse(EXAMPLE_FILES[0].1, "slipway.yaml").unwrap();
        assert!(config.apps.contains_key("hello"));
    }
}
