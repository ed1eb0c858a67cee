//! The last word before a write: the caller's re-check against what the
//! deploy branch holds now (it may have moved since policy was evaluated).

use std::cmp::Ordering;

use serde_json::Value;

use super::check::parse_documents;
use super::edit::{KUSTOMIZATION_FILES, WORKLOADS};
use super::image::{ImageName, image_name};
use super::request::DeployRequest;
use crate::version::{Candidate, order_images};

/// Decides, at the head a write is about to land on, whether the request may
/// still go ahead. Policy lives elsewhere; this is its hook.
pub trait Recheck: Send + Sync {
    /// `current` holds the app's image references found in the environment's
    /// manifests at that head (after earlier requests of the same batch).
    /// `Err(reason)` refuses the write for good.
    fn recheck(&self, request: &DeployRequest, current: &[String]) -> Result<(), String>;
}

/// Refuses a write whose tag is an older version than a tag already
/// deployed, in the one version order ([`crate::version`]: `1.9` is older than
/// `1.10`, build metadata is ignored). Tags that are not versions pass: the
/// manifests hold no build times to order them by.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDowngrade;

impl Recheck for NoDowngrade {
    fn recheck(&self, request: &DeployRequest, current: &[String]) -> Result<(), String> {
        if request.rollback {
            return Ok(());
        }
        let wanted = Candidate {
            tag: request.image.tag.as_deref(),
            built_at: None,
        };
        for reference in current {
            let Ok(parsed) = super::image::parse_reference(reference) else {
                continue;
            };
            let have = Candidate {
                tag: parsed.tag.as_deref(),
                built_at: None,
            };
            if order_images(wanted, have).ordering() == Some(Ordering::Less) {
                return Err(format!("{reference} is newer than {}", request.image));
            }
        }
        Ok(())
    }
}

/// The references to `name` a manifest file deploys: container images of
/// workloads and kustomization `images:` entries (as `newName:newTag@digest`).
pub fn current_images(file: &str, text: &str, name: &ImageName) -> Vec<String> {
    let Ok(docs) = parse_documents(text) else {
        return Vec::new();
    };
    let kustomization = KUSTOMIZATION_FILES.iter().any(|n| file.ends_with(n));
    let mut out = Vec::new();
    for doc in &docs {
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
        if kind == "Kustomization" || (kustomization && kind.is_empty()) {
            kustomize_images(doc, name, &mut out);
        } else if let Some((_, path)) = WORKLOADS.iter().find(|(k, _)| *k == kind) {
            let spec = path.iter().try_fold(doc, |v, key| v.get(key));
            for list in ["initContainers", "containers"] {
                let items = spec.and_then(|s| s.get(list)).and_then(Value::as_array);
                for item in items.into_iter().flatten() {
                    if let Some(image) = item.get("image").and_then(Value::as_str)
                        && image_name(image).as_ref() == Some(name)
                    {
                        out.push(image.to_string());
                    }
                }
            }
        }
    }
    out
}

fn kustomize_images(doc: &Value, name: &ImageName, out: &mut Vec<String>) {
    let entries = doc.get("images").and_then(Value::as_array);
    for entry in entries.into_iter().flatten() {
        let text = |key: &str| entry.get(key).and_then(Value::as_str).map(String::from);
        let base = text("newName").or_else(|| text("name")).unwrap_or_default();
        if image_name(&base).as_ref() != Some(name)
            && text("name").and_then(|n| image_name(&n)).as_ref() != Some(name)
        {
            continue;
        }
        let mut reference = base;
        if let Some(tag) = entry.get("newTag").map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }) {
            reference.push(':');
            reference.push_str(&tag);
        }
        if let Some(digest) = text("digest") {
            reference.push('@');
            reference.push_str(&digest);
        }
        out.push(reference);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ImageRef;
    use crate::repoconfig::WriteMode;

    fn request(tag: &str) -> DeployRequest {
        DeployRequest {
            event_id: "e".into(),
            app: "web".into(),
            environment: "prod".into(),
            image: ImageRef {
                repository: "ghcr.io/acme/web".into(),
                tag: Some(tag.into()),
                digest: None,
            },
            mode: WriteMode::Commit,
            verdict: "allow".into(),
            trace: String::new(),
            source: Default::default(),
            rollback: false,
        }
    }

    #[test]
    fn no_downgrade_compares_semantic_versions() {
        let cases = [
            ("upgrade", "1.5.0", "ghcr.io/acme/web:1.4.9", true),
            ("same", "1.5.0", "ghcr.io/acme/web:1.5.0", true),
            ("downgrade", "1.4.0", "ghcr.io/acme/web:1.10.0", false),
            ("two-part downgrade", "1.9", "ghcr.io/acme/web:1.10", false),
            ("two-part upgrade", "1.10", "ghcr.io/acme/web:1.9", true),
            ("V prefix", "V2.0.0", "ghcr.io/acme/web:v1.0.0", true),
            (
                "build metadata is equal",
                "1.0.0+b.1",
                "ghcr.io/acme/web:1.0.0+b.2",
                true,
            ),
            ("v prefix", "v2.0.0", "ghcr.io/acme/web:v1.0.0", true),
            ("not a version", "latest", "ghcr.io/acme/web:9.9.9", true),
            (
                "current not a version",
                "1.0.0",
                "ghcr.io/acme/web:main",
                true,
            ),
        ];
        for (name, wanted, current, ok) in cases {
            assert_eq!(
                NoDowngrade
                    .recheck(&request(wanted), &[current.to_string()])
                    .is_ok(),
                ok,
                "{name}"
            );
        }
    }

    #[test]
    fn an_explicit_rollback_may_go_down() {
        let mut rollback = request("1.4.0");
        rollback.rollback = true;
        let current = ["ghcr.io/acme/web:1.10.0".to_string()];
        assert!(NoDowngrade.recheck(&rollback, &current).is_ok());
        assert!(NoDowngrade.recheck(&request("1.4.0"), &current).is_err());
    }

    #[test]
    fn current_images_come_from_workloads_and_kustomizations() {
        let name = image_name("ghcr.io/acme/web").unwrap();
        let workload = "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - image: ghcr.io/acme/web:1.0\n        - image: busybox\n";
        assert_eq!(
            current_images("d.yaml", workload, &name),
            ["ghcr.io/acme/web:1.0"]
        );
        let kustomization = "images:\n  - name: ghcr.io/acme/web\n    newTag: \"1.10\"\n";
        assert_eq!(
            current_images("x/kustomization.yaml", kustomization, &name),
            ["ghcr.io/acme/web:1.10"]
        );
    }
}
