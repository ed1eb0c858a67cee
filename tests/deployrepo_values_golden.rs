//! Golden before/after Helm values files: an edit changes the image's
//! values and not one other byte (comments, anchors, quoting and the other
//! images stay). Set `SLIPWAY_UPDATE_GOLDEN=1` to rewrite the `.after.yaml`
//! files, then review the diff.

use std::path::PathBuf;

use slipway::deployrepo::image::TargetImage;
use slipway::deployrepo::values::edit_values;
use slipway::event::ImageRef;
use slipway::repoconfig::HelmValues;

const DIGEST: &str = "sha256:ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12";

struct Case {
    fixture: &'static str,
    tag: Option<&'static str>,
    digest: Option<&'static str>,
    mapping: Option<fn() -> HelmValues>,
    changes: usize,
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

const CASES: &[Case] = &[
    Case {
        fixture: "image-map",
        tag: Some("1.4.2"),
        digest: None,
        mapping: None,
        changes: 1,
    },
    Case {
        fixture: "registry",
        tag: Some("1.10"),
        digest: None,
        mapping: None,
        changes: 1,
    },
    Case {
        fixture: "per-container",
        tag: Some("1.4.2"),
        digest: None,
        mapping: None,
        changes: 2,
    },
    Case {
        fixture: "mapping",
        tag: Some("1.4.2"),
        digest: Some(DIGEST),
        mapping: Some(mapping),
        changes: 1,
    },
];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/values")
        .join(name)
}

#[test]
fn values_edits_match_the_golden_files_byte_for_byte() {
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
        let mapping = case.mapping.map(|m| m());
        let file = format!("envs/prod/{}.yaml", case.fixture);
        let edit = edit_values(&file, &before, &image, mapping.as_ref())
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
        let again = edit_values(&file, &edit.text, &image, mapping.as_ref()).unwrap();
        assert!(
            again.changes.is_empty(),
            "{}: second edit changed {:?}",
            case.fixture,
            again.changes
        );
        assert_eq!(again.text, edit.text, "{}", case.fixture);
        // Only the changed values' lines differ.
        let differing = before
            .lines()
            .zip(edit.text.lines())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(
            before.lines().count(),
            edit.text.lines().count(),
            "{}",
            case.fixture
        );
        assert!(
            differing <= 2,
            "{}: {differing} lines changed",
            case.fixture
        );
    }
}
