//! Quay repository-push notifications
//! (<https://docs.quay.io/guides/notifications.html>, "Repository Push").
//! Quay signs nothing, so, as with Docker Hub, it is accepted only on a
//! per-hook URL token ([`super::url_token`]). The body names the repository
//! (`docker_url`) and the tags pushed (`updated_tags`), but no digest and no
//! source commit.

use serde::Deserialize;

use crate::event::{ArtifactPublished, DomainEvent, Provider, SourceInfo};
use crate::image::{ImageRef, ReferencePart};
use crate::secret::Secret;

use super::normalise::{Required, bad_image, non_empty};
use super::url_token::UrlTokenHook;
use super::{Rejection, parse_json};

/// Event type recorded for a repository push.
pub const REPO_PUSH: &str = "repo_push";

/// The Quay provider, accepting any of `url_tokens` in the path.
pub fn hook(url_tokens: Vec<Secret>) -> Result<UrlTokenHook, &'static str> {
    UrlTokenHook::new(Provider::Quay, REPO_PUSH, url_tokens, normalise)
}

#[derive(Deserialize)]
struct Payload {
    docker_url: Required,
    #[serde(default)]
    updated_tags: Vec<String>,
    #[serde(default)]
    homepage: Option<String>,
}

/// Normalise a Quay repository-push payload without verifying it: one
/// artifact per updated tag.
pub fn normalise(body: &[u8]) -> Result<DomainEvent, Rejection> {
    let payload: Payload = parse_json(body)?;
    let mut artifacts = Vec::new();
    for (i, tag) in payload.updated_tags.iter().enumerate() {
        let image =
            ImageRef::from_parts(&payload.docker_url, Some(tag), None).map_err(|e| {
                match e.part() {
                    ReferencePart::Name => bad_image("docker_url", e),
                    _ => bad_image(&format!("updated_tags[{i}]"), e),
                }
            })?;
        artifacts.push(ArtifactPublished {
            image,
            source: SourceInfo {
                url: non_empty(payload.homepage.as_deref()),
                ..SourceInfo::default()
            },
            pipeline: None,
            built_at: None,
        });
    }
    Ok(match artifacts.len() {
        0 => DomainEvent::Ignored {
            reason: "the Quay push updated no tag".into(),
        },
        1 => DomainEvent::ArtifactPublished(artifacts.remove(0)),
        _ => DomainEvent::ArtifactsPublished {
            artifacts,
            skipped: Vec::new(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (row, body, the images or the error's field)
    type Row<'a> = (&'a str, &'a str, Result<Vec<&'a str>, &'a str>);

    #[test]
    fn each_updated_tag_is_an_artifact() {
        let cases: [Row; 5] = [
            (
                "one tag",
                r#"{"docker_url": "quay.io/acme/web", "updated_tags": ["1.2.0"]}"#,
                Ok(vec!["quay.io/acme/web:1.2.0"]),
            ),
            (
                "two tags",
                r#"{"docker_url": "quay.io/acme/web", "updated_tags": ["1.2.0", "1.2"]}"#,
                Ok(vec!["quay.io/acme/web:1.2.0", "quay.io/acme/web:1.2"]),
            ),
            (
                "no tag",
                r#"{"docker_url": "quay.io/acme/web", "updated_tags": []}"#,
                Ok(vec![]),
            ),
            (
                "bad tag",
                r#"{"docker_url": "quay.io/acme/web", "updated_tags": ["$(id)"]}"#,
                Err("updated_tags[0]"),
            ),
            (
                "no docker_url",
                r#"{"updated_tags": ["1"]}"#,
                Err("docker_url: missing"),
            ),
        ];
        for (row, body, want) in cases {
            let got = normalise(body.as_bytes());
            match (got, want) {
                (Ok(event), Ok(want)) => {
                    let images: Vec<String> = event
                        .artifacts()
                        .iter()
                        .map(|a| a.image.to_string())
                        .collect();
                    assert_eq!(images, want, "{row}");
                }
                (Err(Rejection::BadRequest(message)), Err(want)) => {
                    assert!(message.contains(want), "{row}: {message}")
                }
                (got, want) => panic!("{row}: got {got:?}, want {want:?}"),
            }
        }
    }
}
