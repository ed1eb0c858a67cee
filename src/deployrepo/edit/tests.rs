use proptest::prelude::*;

use super::*;
use crate::event::ImageRef;

const DIGEST: &str = "sha256:ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12";

fn web(tag: &str) -> TargetImage {
    TargetImage::new(&ImageRef {
        repository: "ghcr.io/acme/web".into(),
        tag: Some(tag.into()),
        digest: None,
    })
    .unwrap()
}

fn deployment(image_line: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n{image_line}\n"
    )
}

#[test]
fn edits_follow_the_table() {
    let cases: &[(&str, String, Option<&str>, usize)] = &[
        (
            "plain image",
            deployment("          image: ghcr.io/acme/web:1.0"),
            Some("image: ghcr.io/acme/web:2.0"),
            1,
        ),
        (
            "double quoted",
            deployment("          image: \"ghcr.io/acme/web:1.0\""),
            Some("image: \"ghcr.io/acme/web:2.0\""),
            1,
        ),
        (
            "single quoted",
            deployment("          image: 'ghcr.io/acme/web:1.0'"),
            Some("image: 'ghcr.io/acme/web:2.0'"),
            1,
        ),
        (
            "other repository untouched",
            deployment("          image: ghcr.io/acme/api:1.0"),
            None,
            0,
        ),
        (
            "prefix repository untouched",
            deployment("          image: ghcr.io/acme/web-admin:1.0"),
            None,
            0,
        ),
        (
            "already current",
            deployment("          image: ghcr.io/acme/web:2.0"),
            None,
            0,
        ),
        (
            "untagged image gets tag",
            deployment("          image: ghcr.io/acme/web"),
            Some("image: ghcr.io/acme/web:2.0"),
            1,
        ),
        (
            "unknown kind untouched",
            deployment("          image: ghcr.io/acme/web:1.0").replace("Deployment", "Widget"),
            None,
            0,
        ),
        (
            "trailing comment kept",
            deployment("          image: ghcr.io/acme/web:1.0 # pin"),
            Some("image: ghcr.io/acme/web:2.0 # pin"),
            1,
        ),
    ];
    for (name, text, want_line, changes) in cases {
        let edit =
            edit_manifest("d.yaml", text, &web("2.0")).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(edit.changes.len(), *changes, "{name}");
        match want_line {
            Some(line) => assert!(edit.text.contains(line), "{name}: {}", edit.text),
            None => assert_eq!(&edit.text, text, "{name}"),
        }
    }
}

#[test]
fn change_sets_name_file_object_field_and_both_images() {
    let text = deployment("          image: ghcr.io/acme/web:1.0");
    let edit = edit_manifest("envs/prod/web.yaml", &text, &web("2.0")).unwrap();
    assert_eq!(
        edit.changes,
        vec![ImageChange {
            file: "envs/prod/web.yaml".into(),
            document: 0,
            kind: "Deployment".into(),
            name: "web".into(),
            field: "spec.template.spec.containers[0].image".into(),
            old_image: "ghcr.io/acme/web:1.0".into(),
            new_image: "ghcr.io/acme/web:2.0".into(),
        }]
    );
}

#[test]
fn refusals_leave_nothing_written() {
    let aliased = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    img: &img ghcr.io/acme/web:1.0\nspec:\n  containers:\n    - name: a\n      image: *img\n";
    let block = deployment("          image: >-\n            ghcr.io/acme/web:1.0");
    type IsExpected = fn(&EditError) -> bool;
    let cases: &[(&str, &str, IsExpected)] = &[
        ("invalid yaml", "kind: Pod\nspec: [\n", |e| {
            matches!(e, EditError::ParseManifest { .. })
        }),
        ("image through an alias", aliased, |e| {
            matches!(e, EditError::UneditableImage { .. })
        }),
        ("image in a block scalar", &block, |e| {
            matches!(e, EditError::UneditableImage { .. })
        }),
    ];
    for (name, text, is_expected) in cases {
        let err = edit_manifest("f.yaml", text, &web("2.0")).expect_err(name);
        assert!(is_expected(&err), "{name}: {err}");
    }
}

#[test]
fn kustomization_entries_gain_and_lose_digests() {
    let text = "images:\n  - name: ghcr.io/acme/web\n    newTag: 1.0\n    digest: sha256:0000000000000000000000000000000000000000000000000000000000000000\n";
    let edit = edit_manifest("k/kustomization.yaml", text, &web("2.0")).unwrap();
    assert_eq!(
        edit.text,
        "images:\n  - name: ghcr.io/acme/web\n    newTag: '2.0'\n"
    );
    let with_digest = TargetImage::new(&ImageRef {
        repository: "ghcr.io/acme/web".into(),
        tag: None,
        digest: Some(DIGEST.into()),
    })
    .unwrap();
    let edit = edit_manifest(
        "k/kustomization.yaml",
        "images:\n  - name: ghcr.io/acme/web\n    newTag: v1\n",
        &with_digest,
    )
    .unwrap();
    assert_eq!(
        edit.text,
        format!("images:\n  - name: ghcr.io/acme/web\n    digest: {DIGEST}\n")
    );
    assert_eq!(
        edit.changes[0].new_image,
        format!("ghcr.io/acme/web@{DIGEST}")
    );
}

proptest! {
    #[test]
    fn editing_then_reparsing_changes_only_the_image(
        tag in "[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,20}",
        comment in "[ a-z]{0,12}",
        replicas in 1u32..50,
        crlf in any::<bool>(),
        quote in prop::sample::select(vec!["", "\"", "'"]),
    ) {
        let mut text = format!(
            "# {comment}\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: {replicas}\n  template:\n    spec:\n      containers:\n        - name: web\n          image: {quote}ghcr.io/acme/web:0{quote} # {comment}\n        - name: side\n          image: busybox:1\n"
        );
        if crlf {
            text = text.replace('\n', "\r\n");
        }
        let edit = edit_manifest("d.yaml", &text, &web(&tag)).unwrap();
        let old = check::parse_documents(&text).unwrap();
        let mut new = check::parse_documents(&edit.text).unwrap();
        let image = &mut new[0]["spec"]["template"]["spec"]["containers"][0]["image"];
        let want = format!("ghcr.io/acme/web:{tag}");
        prop_assert_eq!(image.as_str(), Some(want.as_str()));
        *image = old[0]["spec"]["template"]["spec"]["containers"][0]["image"].clone();
        prop_assert_eq!(&old, &new);
        let changed: Vec<_> = text.split_inclusive('\n').zip(edit.text.split_inclusive('\n')).filter(|(a, b)| a != b).collect();
        prop_assert!(changed.len() <= 1);
        prop_assert_eq!(text.lines().count(), edit.text.lines().count());
    }
}

const DOCUMENTS: &[&str] = &[
    "apiVersion: v1\nkind: Service\nmetadata:\n  name: web # front\nspec:\n  ports: [{port: 80}]\n",
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      initContainers:\n        - name: init\n          image: \"ghcr.io/acme/web:0.1\"\n      containers:\n        - name: web\n          image: ghcr.io/acme/web:0.1 # app\n        - name: side\n          image: busybox:1.36\n",
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  note: |\n    image: ghcr.io/acme/web:0.0.1\n    stays text\n",
    "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: nightly\nspec:\n  schedule: \"0 3 * * *\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers: [{name: job, image: 'ghcr.io/acme/web:0.1'}]\n",
    "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\n  labels: &l {app: db}\nspec:\n  template:\n    metadata:\n      labels: *l\n    spec:\n      containers:\n        - name: db\n          image: docker.io/library/postgres:16\n",
];

/// What an edit must do, computed independently of the editor: every
/// workload container image of the app's repository becomes `want`.
fn expected(mut doc: serde_json::Value, want: &str) -> serde_json::Value {
    let kind = doc
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or_default()
        .to_string();
    let Some((_, path)) = WORKLOADS.iter().find(|(k, _)| *k == kind) else {
        return doc;
    };
    let mut spec = &mut doc;
    for key in *path {
        spec = &mut spec[*key];
    }
    for list in ["initContainers", "containers"] {
        if let Some(items) = spec.get_mut(list).and_then(|v| v.as_array_mut()) {
            for item in items {
                if item["image"]
                    .as_str()
                    .is_some_and(|i| i.starts_with("ghcr.io/acme/web:"))
                {
                    item["image"] = serde_json::Value::String(want.to_string());
                }
            }
        }
    }
    doc
}

proptest! {
    #[test]
    fn multi_document_files_change_only_the_apps_images(
        picks in prop::collection::vec(0..DOCUMENTS.len(), 1..6),
        crlf in any::<bool>(),
        leading_separator in any::<bool>(),
        tag in "[0-9]{1,2}\\.[0-9]{1,2}(\\.[0-9]{1,2})?",
        with_digest in any::<bool>(),
    ) {
        let docs: Vec<&str> = picks.iter().map(|&i| DOCUMENTS[i]).collect();
        let mut text = docs.join("---\n");
        if leading_separator {
            text = format!("---\n{text}");
        }
        if crlf {
            text = text.replace('\n', "\r\n");
        }
        let image = TargetImage::new(&ImageRef {
            repository: "ghcr.io/acme/web".into(),
            tag: Some(tag.clone()),
            digest: with_digest.then(|| DIGEST.to_string()),
        })
        .unwrap();
        let edit = edit_manifest("all.yaml", &text, &image).unwrap();
        let old = check::parse_documents(&text).unwrap();
        let new = check::parse_documents(&edit.text).unwrap();
        let want: Vec<_> = old.into_iter().map(|d| expected(d, &image.reference())).collect();
        prop_assert_eq!(new, want);
        prop_assert_eq!(edit.text.lines().count(), text.lines().count());
        prop_assert_eq!(edit.text.contains("\r\n"), crlf);
        let again = edit_manifest("all.yaml", &edit.text, &image).unwrap();
        prop_assert!(again.changes.is_empty());
    }
}
