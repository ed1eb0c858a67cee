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
