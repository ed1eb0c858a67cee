use super::*;
use crate::image::ImageRef;

fn target(tag: Option<&str>, digest: Option<&str>) -> TargetImage {
    TargetImage::new(&ImageRef {
        repository: "ghcr.io/acme/web".into(),
        tag: tag.map(String::from),
        digest: digest.map(String::from),
    })
    .unwrap()
}

const DIGEST: &str = "sha256:ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12";

#[test]
fn the_common_shapes_are_recognised_and_edited_in_place() {
    let cases = [
        (
            "repository and tag",
            "image:\n  repository: ghcr.io/acme/web # the app\n  tag: \"1.0.0\"\n",
            "image:\n  repository: ghcr.io/acme/web # the app\n  tag: \"2.0.0\"\n",
        ),
        (
            "registry apart",
            "image:\n  registry: ghcr.io\n  repository: acme/web\n  tag: 1.0.0\n",
            "image:\n  registry: ghcr.io\n  repository: acme/web\n  tag: 2.0.0\n",
        ),
        (
            "one string",
            "image: ghcr.io/acme/web:1.0.0\nreplicas: 2\n",
            "image: ghcr.io/acme/web:2.0.0\nreplicas: 2\n",
        ),
        (
            "per container",
            "web:\n  image: {repository: ghcr.io/acme/web, tag: '1.0.0'}\nsidecar:\n  image: {repository: ghcr.io/acme/proxy, tag: '1.0.0'}\n",
            "web:\n  image: {repository: ghcr.io/acme/web, tag: '2.0.0'}\nsidecar:\n  image: {repository: ghcr.io/acme/proxy, tag: '1.0.0'}\n",
        ),
        (
            "tag inserted",
            "image:\n  repository: ghcr.io/acme/web\n",
            "image:\n  repository: ghcr.io/acme/web\n  tag: 2.0.0\n",
        ),
        (
            "another image",
            "image:\n  repository: ghcr.io/acme/api\n  tag: 1.0.0\n",
            "image:\n  repository: ghcr.io/acme/api\n  tag: 1.0.0\n",
        ),
    ];
    for (name, before, after) in cases {
        let edit = edit_values("values.yaml", before, &target(Some("2.0.0"), None), None)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(edit.text, after, "{name}");
        assert_eq!(edit.changes.is_empty(), before == after, "{name}");
    }
}

#[test]
fn a_tag_yaml_would_read_as_a_number_is_quoted() {
    let edit = edit_values(
        "values.yaml",
        "image:\n  repository: ghcr.io/acme/web\n  tag: v1\n",
        &target(Some("1.10"), None),
        None,
    )
    .unwrap();
    assert_eq!(
        edit.text,
        "image:\n  repository: ghcr.io/acme/web\n  tag: '1.10'\n"
    );
    let inserted = edit_values(
        "values.yaml",
        "image:\n  repository: ghcr.io/acme/web\n",
        &target(Some("1.10"), None),
        None,
    )
    .unwrap();
    let docs = check::parse_documents(&inserted.text).unwrap();
    assert_eq!(docs[0]["image"]["tag"], "1.10", "{}", inserted.text);
}

#[test]
fn a_mapping_names_the_keys_and_a_digest_is_set_or_emptied() {
    let mapping = HelmValues {
        file: "values-prod.yaml".into(),
        repository: "app.img.repo".into(),
        registry: None,
        tag: Some("app.img.version".into()),
        digest: Some("app.img.sha".into()),
    };
    let text = "app:\n  img:\n    repo: ghcr.io/acme/web\n    version: 1.0.0\n    sha: \"\"\n";
    let pinned = edit_values(
        "values-prod.yaml",
        text,
        &target(Some("2.0.0"), Some(DIGEST)),
        Some(&mapping),
    )
    .unwrap();
    assert_eq!(
        pinned.text,
        format!(
            "app:\n  img:\n    repo: ghcr.io/acme/web\n    version: 2.0.0\n    sha: \"{DIGEST}\"\n"
        )
    );
    assert_eq!(pinned.changes.len(), 1);
    let change = &pinned.changes[0];
    assert_eq!(change.kind, VALUES_KIND);
    assert_eq!(change.field, "app.img");
    assert_eq!(change.old_image, "ghcr.io/acme/web:1.0.0");
    assert_eq!(change.new_image, format!("ghcr.io/acme/web:2.0.0@{DIGEST}"));

    let unpinned = edit_values(
        "values-prod.yaml",
        &pinned.text,
        &target(Some("3.0.0"), None),
        Some(&mapping),
    )
    .unwrap();
    assert_eq!(
        unpinned.text,
        "app:\n  img:\n    repo: ghcr.io/acme/web\n    version: 3.0.0\n    sha: \"\"\n",
        "a stale digest cannot pin the old image"
    );
    assert_eq!(
        values_images(
            &pinned.text,
            target(None, Some(DIGEST)).name(),
            Some(&mapping)
        ),
        [format!("ghcr.io/acme/web:2.0.0@{DIGEST}")]
    );
}

#[test]
fn values_files_are_told_from_manifests() {
    let cases = [
        ("values", "values.yaml", "image: {repository: x}\n", true),
        (
            "object",
            "d.yaml",
            "apiVersion: v1\nkind: ConfigMap\n",
            false,
        ),
        ("kustomization", "kustomization.yaml", "images: []\n", false),
        ("template", "t.yaml", "name: {{ .Release.Name }}\n", false),
        ("empty", "e.yaml", "", false),
    ];
    for (name, file, text, want) in cases {
        assert_eq!(is_values_file(file, text), want, "{name}");
    }
}
