//! Helpers shared by the providers' normalisers, and [`normalise`], which
//! turns an already-trusted payload into a domain event without verifying it
//! (for `slipway policy explain` and tests).

use crate::event::{DomainEvent, PipelineStatus, Provider};
use crate::image::{ImageRef, ImageRefError, ReferencePart};

use super::Rejection;

/// Normalise a payload of `provider` with the sender's event name, skipping
/// verification. The server never calls this: it always verifies first.
pub fn normalise(
    provider: Provider,
    event_type: &str,
    body: &[u8],
) -> Result<DomainEvent, Rejection> {
    match provider {
        Provider::GitHub => super::github::normalise(event_type, body),
        Provider::GitLab => super::gitlab::normalise(event_type, body),
        Provider::Generic => super::generic::normalise_artifact(body),
        Provider::Harbor => super::harbor::normalise(body),
        Provider::DockerHub => super::dockerhub::normalise(body),
        Provider::Quay => super::quay::normalise(body),
        Provider::PubSub => super::pubsub::normalise(body),
        Provider::Sync => super::generic::normalise_report(body),
        Provider::Operator => super::generic::normalise_operator(body),
    }
}

/// The all-zero SHA git hosts send for "no commit" (created or deleted refs).
pub fn is_zero_sha(sha: &str) -> bool {
    !sha.is_empty() && sha.bytes().all(|b| b == b'0')
}

/// `Some(sha)` unless it is empty or all zeros.
pub fn real_sha(sha: Option<&str>) -> Option<String> {
    sha.filter(|s| !s.is_empty() && !is_zero_sha(s))
        .map(str::to_string)
}

/// A full commit SHA (40 or 64 hex digits).
pub fn is_commit_sha(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `refs/heads/<branch>` for a bare branch name, unchanged when already a ref.
pub fn branch_ref(name: &str) -> String {
    if name.starts_with("refs/") {
        name.to_string()
    } else {
        format!("refs/heads/{name}")
    }
}

/// `refs/tags/<tag>` for a bare tag name, unchanged when already a ref.
pub fn tag_ref(name: &str) -> String {
    if name.starts_with("refs/") {
        name.to_string()
    } else {
        format!("refs/tags/{name}")
    }
}

/// A digest Slipway can pin, or `None` (see [`crate::image::is_digest`]).
pub fn valid_digest(text: &str) -> Option<String> {
    crate::image::is_digest(text).then(|| text.to_string())
}

/// A 400 naming `field` for an image reference that does not parse.
pub fn bad_image(field: &str, error: ImageRefError) -> Rejection {
    Rejection::BadRequest(format!("{field}: {error}"))
}

/// The image a sender reports as a reference text in `field`, with a tag or
/// digest it reports apart (an empty one counts as missing); a 400 naming the
/// field when the result is not a valid, pinned reference.
pub fn reported_image(
    field: &str,
    reference: &str,
    tag: Option<&str>,
    digest: Option<&str>,
) -> Result<ImageRef, Rejection> {
    let mut image = ImageRef::parse(reference).map_err(|e| bad_image(field, e))?;
    if let Some(tag) = tag.filter(|t| !t.trim().is_empty()) {
        image.tag = Some(tag.to_string());
    }
    if let Some(digest) = digest.filter(|d| !d.trim().is_empty()) {
        image.digest = Some(digest.to_string());
    }
    ImageRef::from_parts(
        &image.repository,
        image.tag.as_deref(),
        image.digest.as_deref(),
    )
    .and_then(ImageRef::pinned)
    .map_err(|e| match e.part() {
        ReferencePart::Name => bad_image(field, e),
        part => bad_image(part.as_str(), e),
    })
}

/// A string that must hold something: present but empty (or only blanks) is
/// refused like a missing field, and the error names the field's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Required(pub String);

impl<'de> serde::Deserialize<'de> for Required {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(serde::de::Error::custom("must not be empty"));
        }
        Ok(Required(trimmed.to_string()))
    }
}

impl std::ops::Deref for Required {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Required {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Required> for String {
    fn from(value: Required) -> Self {
        value.0
    }
}

/// A git ref a sender must name (`refs/heads/main`, `refs/tags/v1`, or a bare
/// branch name): a 400 naming `field` when it is empty or names no branch or
/// tag (`refs/tags/`).
pub fn required_ref(field: &str, text: &str) -> Result<String, Rejection> {
    let text = text.trim();
    let name = ["refs/heads/", "refs/tags/"]
        .iter()
        .find_map(|prefix| text.strip_prefix(prefix))
        .unwrap_or(text);
    if name.is_empty() || text.ends_with('/') || text.chars().any(char::is_control) {
        return Err(Rejection::BadRequest(format!(
            "{field}: names no branch or tag"
        )));
    }
    Ok(text.to_string())
}

/// A non-empty string, trimmed.
pub fn non_empty(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// Map CI status words (GitHub conclusions, GitLab statuses, generic bodies) to a status.
pub fn pipeline_status(word: &str) -> PipelineStatus {
    match word.to_ascii_lowercase().as_str() {
        "success" | "succeeded" | "passed" => PipelineStatus::Success,
        "failure" | "failed" | "timed_out" | "timeout" | "startup_failure" | "error"
        | "internal_error" => PipelineStatus::Failure,
        "cancelled" | "canceled" => PipelineStatus::Cancelled,
        "created"
        | "pending"
        | "queued"
        | "running"
        | "in_progress"
        | "requested"
        | "waiting"
        | "preparing"
        | "waiting_for_resource"
        | "scheduled"
        | "manual" => PipelineStatus::Running,
        _ => PipelineStatus::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (row, reference, tag, digest, image or the error's start)
    type ReportedRow<'a> = (
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        Result<String, &'a str>,
    );

    #[test]
    fn reported_images_name_the_field_that_is_wrong() {
        let d = format!("sha256:{}", "ab".repeat(32));
        let cases: [ReportedRow; 9] = [
            (
                "tag apart",
                "ghcr.io/acme/web",
                Some("1.5.0"),
                None,
                Ok("ghcr.io/acme/web:1.5.0".into()),
            ),
            (
                "tag in reference",
                "localhost:5000/web:2",
                None,
                None,
                Ok("localhost:5000/web:2".into()),
            ),
            (
                "tag field wins",
                "ghcr.io/acme/web:1",
                Some("2"),
                None,
                Ok("ghcr.io/acme/web:2".into()),
            ),
            (
                "digest apart",
                "ghcr.io/acme/web",
                None,
                Some(&d),
                Ok(format!("ghcr.io/acme/web@{d}")),
            ),
            (
                "empty tag is missing",
                "ghcr.io/acme/web",
                Some(""),
                None,
                Err("tag: the image names neither"),
            ),
            (
                "yaml in tag",
                "ghcr.io/acme/web",
                Some("1.5.0\nkind: ClusterRole"),
                None,
                Err("tag: the image tag holds"),
            ),
            (
                "shell in tag",
                "ghcr.io/acme/web",
                Some("$(id)"),
                None,
                Err("tag: the image tag holds"),
            ),
            (
                "bad digest",
                "ghcr.io/acme/web",
                None,
                Some("sha256:6c62"),
                Err("digest: the image digest"),
            ),
            (
                "uppercase name",
                "ghcr.io/Acme/web",
                Some("1"),
                None,
                Err("image: the image name has an uppercase"),
            ),
        ];
        for (row, reference, tag, digest, want) in cases {
            let got = reported_image("image", reference, tag, digest).map(|i| i.to_string());
            match (got, want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{row}"),
                (Err(Rejection::BadRequest(got)), Err(want)) => {
                    assert!(got.starts_with(want), "{row}: {got}")
                }
                (got, want) => panic!("{row}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn refs_must_name_a_branch_or_tag() {
        let cases = [
            ("branch", "refs/heads/main", true),
            ("tag", "refs/tags/v1.2.0", true),
            ("bare branch", "main", true),
            ("nested branch", "refs/heads/release/1.x", true),
            ("empty", "", false),
            ("blank", "  ", false),
            ("empty tag", "refs/tags/", false),
            ("empty branch", "refs/heads/", false),
            ("trailing slash", "refs/heads/x/", false),
        ];
        for (row, text, ok) in cases {
            assert_eq!(required_ref("ref", text).is_ok(), ok, "{row}");
        }
    }

    #[test]
    fn digests_must_be_full_sha256() {
        let cases = [
            ("full", format!("sha256:{}", "0f".repeat(32)), true),
            (
                "git sha",
                "sha256:6c62fb45fe66bfb1ea9a66abc38f6a0cc974292b".to_string(),
                false,
            ),
            ("uppercase", format!("sha256:{}", "AB".repeat(32)), false),
            (
                "other algorithm",
                format!("sha512:{}", "ab".repeat(32)),
                false,
            ),
        ];
        for (name, input, ok) in cases {
            assert_eq!(valid_digest(&input).is_some(), ok, "{name}");
        }
    }

    #[test]
    fn refs_and_shas() {
        assert_eq!(branch_ref("main"), "refs/heads/main");
        assert_eq!(branch_ref("refs/heads/x"), "refs/heads/x");
        assert_eq!(tag_ref("v1"), "refs/tags/v1");
        assert!(is_zero_sha("0000000000000000000000000000000000000000"));
        assert_eq!(
            real_sha(Some("0000000000000000000000000000000000000000")),
            None
        );
        assert!(is_commit_sha("6113728f27ae82c7b1a177c8d03f9e96e0adf246"));
        assert!(!is_commit_sha("master"));
    }

    #[test]
    fn status_words_map_to_statuses() {
        let cases = [
            ("success", PipelineStatus::Success),
            ("failed", PipelineStatus::Failure),
            ("timed_out", PipelineStatus::Failure),
            ("canceled", PipelineStatus::Cancelled),
            ("running", PipelineStatus::Running),
            ("skipped", PipelineStatus::Other),
            ("neutral", PipelineStatus::Other),
        ];
        for (word, want) in cases {
            assert_eq!(pipeline_status(word), want, "{word}");
        }
    }
}
