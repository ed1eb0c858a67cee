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
