//! Golden before/after manifests: an edit changes the image and not one other byte.
//! Set `SLIPWAY_UPDATE_GOLDEN=1` to rewrite the `.after.yaml` files, then review the diff.

use std::path::PathBuf;

use slipway::deployrepo::edit::edit_manifest;
use slipway::deployrepo::image::TargetImage;
use slipway::event::ImageRef;

const DIGEST: &str = "sha256:ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12";

struct Case {
    fixture: &'static str,
    file: &'static str,
    tag: Option<&'static str>,
    digest: Option<&'static str>,
    changes: usize,
}

const CASES: &[Case] = &[
    Case {
        fixture: "deployment-comments",
        file: "envs/prod/web/deployment.yaml",
        tag: Some("1.4.2"),
        digest: None,
        changes: 2,
    },
    Case {
        fixture: "multi-doc-crlf",
        file: "envs/prod/web/all.yaml",
        tag: Some("1.4.2"),
        digest: Some(DIGEST),
        changes: 2,
    },
    Case {
        fixture: "anchors-block-scalars",
        file: "envs/prod/web/cache.yaml",
        tag: Some("1.4.2"),
        digest: None,
        changes: 1,
    },
    Case {
        fixture: "flow-lists",
        file: "envs/prod/web/agents.yaml",
        tag: Some("1.10"),
        digest: None,
        changes: 3,
    },
    Case {
        fixture: "kustomization",
        file: "envs/prod/web/kustomization.yaml",
        tag: Some("1.4.2"),
        digest: Some(DIGEST),
        changes: 1,
    },
    Case {
        fixture: "kustomization-newname",
        file: "envs/prod/web/kustomization.yaml",
        tag: Some("1.4.2"),
        digest: None,
        changes: 1,
    },
];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/manifests")
        .join(name)
}

#[test]
fn edits_match_the_golden_files_byte_for_byte() {
    let update = std::env::var_os("SLIPWAY_UPDATE_GOLDEN").is_some();
    for case in CASES {
        let before =
            std::fs::read_to_string(fixture(&format!("{}.before.yaml", case.fixture))).unwrap();
        let image = TargetImage::new(&ImageRef {
            repository: "ghcr.io/acme/web".into(),
            tag: case.tag.map(String::from),
            digest: case.digest.map(String::from),
        })
        .unwrap();
        let edit = edit_manifest(case.file, &before, &image)
            .unwrap_or_else(|e| panic!("{}: {e}", case.fixture));
        assert_eq!(
            edit.changes.len(),
            case.changes,
            "{}: {:#?}",
            case.fixture,
            edit.changes
        );
        let after_path = fixture(&format!("{}.after.yaml", case.fixture));
        if update {
            std::fs::write(&after_path, &edit.text).unwrap();
        }
        let after = std::fs::read(&after_path).unwrap();
        assert_eq!(edit.text.as_bytes(), after.as_slice(), "{}", case.fixture);
        // Applying the same image again changes nothing.
        let again = edit_manifest(case.file, &edit.text, &image).unwrap();
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
        let before =
            std::fs::read_to_string(fixture(&format!("{}.before.yaml", case.fixture))).unwrap();
        let after =
            std::fs::read_to_string(fixture(&format!("{}.after.yaml", case.fixture))).unwrap();
        let touches_image = |line: &&str| {
            ["image", "newTag", "digest", "newName"]
                .iter()
                .any(|k| line.contains(k))
        };
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
