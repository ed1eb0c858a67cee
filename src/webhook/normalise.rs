//! Helpers shared by the providers' normalisers, and [`normalise`], which
//! turns an already-trusted payload into a domain event without verifying it
//! (for `slipway policy explain` and tests).

use crate::event::{DomainEvent, ImageRef, PipelineStatus, Provider};

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

/// An OCI digest Slipway can pin: `sha256:` and 64 lowercase hex digits.
pub fn valid_digest(text: &str) -> Option<String> {
    let hex = text.strip_prefix("sha256:")?;
    (hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then(|| text.to_string())
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

/// Split `host/path[:tag][@digest]` into an [`ImageRef`]. The repository is
/// lowercased (OCI repositories are lowercase; GitHub reports owners as typed).
/// A tag that is itself a digest (Harbor pushes by digest) is dropped.
pub fn split_image(reference: &str) -> Option<ImageRef> {
    let reference = reference.trim();
    let (rest, digest) = match reference.split_once('@') {
        Some((rest, digest)) => (rest, valid_digest(digest)),
        None => (reference, None),
    };
    // A ':' after the last '/' separates the tag; one before it is a registry port.
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (repository, tag) = match rest[slash..].find(':') {
        Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..])),
        None => (rest, None),
    };
    if repository.is_empty() {
        return None;
    }
    let tag = tag
        .filter(|t| !t.is_empty() && valid_digest(t).is_none())
        .map(str::to_string);
    Some(ImageRef {
        repository: repository.to_ascii_lowercase(),
        tag,
        digest,
    })
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
        "failure" | "failed" | "timed_out" | "startup_failure" | "error" => PipelineStatus::Failure,
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

    #[test]
    fn image_references_split_into_repository_tag_and_digest() {
        let d = format!("sha256:{}", "ab".repeat(32));
        let cases = [
            (
                "tag",
                "ghcr.io/acme/web:1.2.3".to_string(),
                "ghcr.io/acme/web",
                Some("1.2.3"),
                None,
            ),
            (
                "empty tag",
                "ghcr.io/Codertocat/hello-world:".to_string(),
                "ghcr.io/codertocat/hello-world",
                None,
                None,
            ),
            (
                "port",
                "localhost:5000/web:2".to_string(),
                "localhost:5000/web",
                Some("2"),
                None,
            ),
            (
                "port no tag",
                "localhost:5000/web".to_string(),
                "localhost:5000/web",
                None,
                None,
            ),
            (
                "digest",
                format!("localhost/harbor/alpine@{d}"),
                "localhost/harbor/alpine",
                None,
                Some(d.as_str()),
            ),
            (
                "tag and digest",
                format!("r/a:1@{d}"),
                "r/a",
                Some("1"),
                Some(d.as_str()),
            ),
            (
                "short digest dropped",
                "r/a@sha256:6c62".to_string(),
                "r/a",
                None,
                None,
            ),
            ("tag equal to digest", format!("r/a:{d}"), "r/a", None, None),
        ];
        for (name, input, repo, tag, digest) in cases {
            let image = split_image(&input).unwrap();
            assert_eq!(image.repository, repo, "{name}");
            assert_eq!(image.tag.as_deref(), tag, "{name}");
            assert_eq!(image.digest.as_deref(), digest, "{name}");
        }
        assert!(split_image(":1").is_none());
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
