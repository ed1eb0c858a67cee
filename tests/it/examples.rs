//! The example files shipped in `examples/` stay valid.

use std::path::Path;

use slipway::config::Config;

#[test]
fn the_example_receive_config_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/receive.yaml");
    let config = Config::load(&path).unwrap();
    assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    assert!(
        config.webhooks.github.is_some()
            && config.webhooks.gitlab.is_some()
            && config.webhooks.generic.is_some()
    );
}

#[test]
fn the_example_deploy_repo_description_loads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/deploy-repo");
    let config = slipway::repoconfig::RepoConfig::load(&root).unwrap();
    let hello = &config.apps["hello"];
    assert_eq!(
        hello
            .environments
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>(),
        ["dev", "staging", "prod"]
    );
    for env in &hello.environments {
        assert!(
            root.join(&env.path).join("deployment.yaml").is_file(),
            "{}",
            env.path
        );
    }
}

#[test]
fn the_built_in_deploy_repo_passes_policy_check() {
    let dir = tempfile::tempdir().unwrap();
    for (file, content) in slipway::bootstrap::EXAMPLE_FILES {
        let path = dir.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    let mut out = Vec::new();
    let code = slipway::policy::cli::check(dir.path(), &mut out);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&out));
}

#[test]
fn the_built_in_deploy_repo_is_the_example_directory_file_for_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/deploy-repo");
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut on_disk = Vec::new();
    walk(&root, &root, &mut on_disk);
    on_disk.sort();
    let mut built_in: Vec<String> = slipway::bootstrap::EXAMPLE_FILES
        .iter()
        .map(|(file, _)| file.to_string())
        .collect();
    built_in.sort();
    assert_eq!(built_in, on_disk);
}

#[test]
fn the_example_deploy_repo_passes_its_own_policy_checks_and_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/deploy-repo");
    let mut out = Vec::new();
    assert_eq!(
        slipway::policy::cli::check(&root, &mut out),
        0,
        "{}",
        String::from_utf8_lossy(&out)
    );
    let mut out = Vec::new();
    assert_eq!(
        slipway::policy::cli::test(&root, &mut out),
        0,
        "{}",
        String::from_utf8_lossy(&out)
    );
    assert!(
        String::from_utf8_lossy(&out).contains("0 failed"),
        "{}",
        String::from_utf8_lossy(&out)
    );
}
