//! Golden before/after manifests and Helm values files: an edit changes the
//! image and not one other byte (comments, anchors, quoting and the other
//! images stay). Set `SLIPWAY_UPDATE_GOLDEN=1` to rewrite the `.after.yaml`
//! files, then review the diff.

use std::path::PathBuf;

use slipway::deployrepo::edit::{EditError, FileEdit, edit_manifest};
use slipway::deployrepo::image::TargetImage;
use slipway::deployrepo::values::edit_values;
use slipway::event::ImageRef;
use slipway::repoconfig::HelmValues;

const DIGEST: &str = "sha256:ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12";

/// Which editor a fixture goes through.
#[derive(Clone, Copy)]
enum Editor {
    /// Workloads and kustomizations (`tests/fixtures/manifests`).
    Manifest,
    /// Helm values (`tests/fixtures/values`), with or without a mapping.
    Values(Option<fn() -> HelmValues>),
}

struct Case {
    fixture: &'static str,
    file: &'static str,
    tag: Option<&'static str>,
    digest: Option<&'static str>,
    changes: usize,
    editor: Editor,
}

fn mapping() -> HelmValues {
    HelmValues {
        file: "mapping.yaml".into(),
        repository: "global.app.containerImage".into(),
        registry: None,
        tag: Some("global.app.version".into()),
        digest: Some("global.app.sha".into()),
    }
}

impl Case {
    fn edit(&self, text: &str, image: &TargetImage) -> Result<FileEdit, EditError> {
        match self.editor {
            Editor::Manifest => edit_manifest(self.file, text, image),
            Editor::Values(mapping) => {
                edit_values(self.file, text, image, mapping.map(|m| m()).as_ref())
            }
        }
    }

    fn path(&self, suffix: &str) -> PathBuf {
        let dir = match self.editor {
            Editor::Manifest => "manifests",
            Editor::Values(_) => "values",
        };
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(dir)
            .join(format!("{}.{suffix}.yaml", self.fixture))
    }

    /// Keys on the lines an edit may change.
    fn image_keys(&self) -> &'static [&'static str] {
        match self.editor {
            Editor::Manifest => &["image", "newTag", "digest", "newName"],
            Editor::Values(_) => &["image", "tag", "digest", "version", "sha"],
        }
    }
}

const CASES: &[Case] = &[
    Case {
        fixture: "deployment-comments",
        file: "envs/prod/web/deployment.yaml",
        tag: Some("1.4.2"),
        digest: None,
        changes: 2,
        editor: Editor::Manifest,
    },
    Case {
        fixture: "multi-doc-crlf",
        file: "envs/prod/web/all.yaml",
        tag: Some("1.4.2"),
        digest: Some(DIGEST),
        changes: 2,
        editor: Editor::Manifest,
    },
    Case {
        fixture: "anchors-block-scalars",
        file: "envs/prod/web/cache.yaml",
        tag: Some("1.4.2"),
        digest: None,
        changes: 1,
        editor: Editor::Manifest,
    },
    Case {
        fixture: "flow-lists",
        file: "envs/prod/web/agents.yaml",
        tag: Some("1.10"),
        digest: None,
        changes: 3,
        editor: Editor::Manifest,
    },
    Case {
        fixture: "kustomization",
        file: "envs/prod/web/kustomization.yaml",
        tag: Some("1.4.2"),
        digest: Some(DIGEST),
        changes: 1,
        editor: Editor::Manifest,
    },
    Case {
        fixture: "kustomization-newname",
        file: "envs/prod/web/kustomization.yaml",
        tag: Some("1.4.2"),
        digest: None,
        changes: 1,
        editor: Editor::Manifest,
    },
    Case {
        fixture: "image-map",
        file: "envs/prod/values.yaml",
        tag: Some("1.4.2"),
        digest: None,
        changes: 1,
        editor: Editor::Values(None),
    },
    Case {
        fixture: "registry",
        file: "envs/prod/values.yaml",
        tag: Some("1.10"),
        digest: None,
        changes: 1,
        editor: Editor::Values(None),
    },
    Case {
        fixture: "per-container",
        file: "envs/prod/values.yaml",
        tag: Some("1.4.2"),
        digest: None,
        changes: 2,
        editor: Editor::Values(None),
    },
    Case {
        fixture: "mapping",
        file: "envs/prod/mapping.yaml",
        tag: Some("1.4.2"),
        digest: Some(DIGEST),
        changes: 1,
        editor: Editor::Values(Some(mapping)),
    },
];

#[test]
fn edits_match_the_golden_files_byte_for_byte() {
    let update = std::env::var_os("SLIPWAY_UPDATE_GOLDEN").is_some();
    for case in CASES {
        let before = std::fs::read_to_string(case.path("before")).unwrap();
        let image = TargetImage::new(&ImageRef {
            repository: "ghcr.io/acme/web".into(),
            tag: case.tag.map(String::from),
            digest: case.digest.map(String::from),
        })
        .unwrap();
        let edit = case
            .edit(&before, &image)
            .unwrap_or_else(|e| panic!("{}: {e}", case.fixture));
        assert_eq!(
            edit.changes.len(),
            case.changes,
            "{}: {:#?}",
            case.fixture,
            edit.changes
        );
        let after_path = case.path("after");
        if update {
            std::fs::write(&after_path, &edit.text).unwrap();
        }
        let after = std::fs::read(&after_path).unwrap();
        assert_eq!(edit.text.as_bytes(), after.as_slice(), "{}", case.fixture);
        // Applying the same image again changes nothing.
        let again = case.edit(&edit.text, &image).unwrap();
        assert!(
            again.changes.is_empty(),
            "{}: second edit changed {:?}",
            case.fixture,
            again.changes
        );
        assert_eq!(again.text, edit.text, "{}", case.fixture);
    }
}

#[test]
fn only_the_image_lines_differ_from_the_original() {
    for case in CASES {
        let before = std::fs::read_to_string(case.path("before")).unwrap();
        let after = std::fs::read_to_string(case.path("after")).unwrap();
        let touches_image = |line: &&str| case.image_keys().iter().any(|k| line.contains(k));
        let rest_before: Vec<&str> = before
            .split_inclusive('\n')
            .filter(|l| !touches_image(l))
            .collect();
        let rest_after: Vec<&str> = after
            .split_inclusive('\n')
            .filter(|l| !touches_image(l))
            .collect();
        assert_eq!(rest_before, rest_after, "{}", case.fixture);
        let added = after.lines().count().saturating_sub(before.lines().count());
        assert!(added <= 1, "{}: {added} lines added", case.fixture);
    }
}
