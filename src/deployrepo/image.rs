//! Validated image references: what the editor is allowed to write.
//!
//! Everything written into a manifest passes through [`TargetImage::new`], so
//! a newline, a space, a quote or a shell or YAML metacharacter can never reach
//! a file, a commit message or a branch name.

use oci_spec::distribution::Reference;

use crate::event::ImageRef;

/// Longest image reference accepted, in bytes.
pub const MAX_REFERENCE_LEN: usize = 512;

/// Why an image reference was refused.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A character outside the image-reference alphabet (space, newline,
    /// quote, YAML or shell metacharacter, non-ASCII).
    #[error("image reference {0:?} holds a character that is not allowed")]
    ForbiddenCharacter(String),
    /// Longer than [`MAX_REFERENCE_LEN`].
    #[error("image reference is longer than {MAX_REFERENCE_LEN} bytes")]
    TooLong,
    /// Neither a tag nor a digest: nothing to deploy.
    #[error("image reference {0:?} has neither tag nor digest")]
    Unpinned(String),
    /// Not a valid OCI reference.
    #[error("image reference {reference:?} is invalid")]
    Invalid {
        /// The rejected text (already checked to hold only safe characters).
        reference: String,
        /// The parser's reason.
        #[source]
        source: oci_spec::distribution::ParseError,
    },
}

/// Characters an image reference may hold: those of the OCI grammar.
fn is_reference_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/' | b':' | b'@')
}

/// Registry and repository of an image, normalised the way container runtimes
/// do (`nginx` is `docker.io/library/nginx`), for comparing references.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageName {
    /// Registry host (and port).
    pub registry: String,
    /// Repository path within the registry.
    pub repository: String,
}

/// Parse any reference text into its repository, tag and digest, if it is one.
pub fn parse_reference(text: &str) -> Result<Reference, ImageError> {
    if text.len() > MAX_REFERENCE_LEN {
        return Err(ImageError::TooLong);
    }
    if !text.bytes().all(is_reference_byte) {
        return Err(ImageError::ForbiddenCharacter(
            text.escape_debug().to_string(),
        ));
    }
    Reference::try_from(text).map_err(|source| ImageError::Invalid {
        reference: text.to_string(),
        source,
    })
}

/// The registry/repository name of a reference text, or `None` when it is not
/// a valid reference (such values are left alone by the editor).
pub fn image_name(text: &str) -> Option<ImageName> {
    let reference = parse_reference(text).ok()?;
    Some(ImageName {
        registry: reference.registry().to_string(),
        repository: reference.repository().to_string(),
    })
}

/// The image an edit writes: a repository with a tag, a digest or both,
/// validated character by character and against the OCI grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetImage {
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
    name: ImageName,
}

impl TargetImage {
    /// Validate an image from an event.
    pub fn new(image: &ImageRef) -> Result<Self, ImageError> {
        let whole = image.to_string();
        if image.tag.is_none() && image.digest.is_none() {
            return Err(ImageError::Unpinned(whole.escape_debug().to_string()));
        }
        let reference = parse_reference(&whole)?;
        // The parser would read `host:5000/web` with no tag as repository plus
        // tag; insist that it agrees with the parts the event named.
        if reference.tag() != image.tag.as_deref() || reference.digest() != image.digest.as_deref()
        {
            return Err(ImageError::Invalid {
                reference: whole,
                source: oci_spec::distribution::ParseError::ReferenceInvalidFormat,
            });
        }
        Ok(TargetImage {
            repository: image.repository.clone(),
            tag: image.tag.clone(),
            digest: image.digest.clone(),
            name: ImageName {
                registry: reference.registry().to_string(),
                repository: reference.repository().to_string(),
            },
        })
    }

    /// Repository as the event named it (`ghcr.io/acme/web`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// Normalised name, for matching references in manifests.
    pub fn name(&self) -> &ImageName {
        &self.name
    }

    /// `repo:tag@digest`, `repo:tag` or `repo@digest`.
    pub fn reference(&self) -> String {
        self.with_repository(&self.repository)
    }

    /// The same tag and digest on another spelling of the repository, so an
    /// edit keeps the manifest's own spelling (`nginx` stays `nginx`).
    pub fn with_repository(&self, repository: &str) -> String {
        let mut out = repository.to_string();
        if let Some(tag) = &self.tag {
            out.push(':');
            out.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            out.push('@');
            out.push_str(digest);
        }
        out
    }

    /// A short label for commit subjects: the tag, else the digest.
    pub fn short_label(&self) -> String {
        match (&self.tag, &self.digest) {
            (Some(tag), _) => tag.clone(),
            (None, Some(digest)) => short_digest(digest),
            (None, None) => String::new(),
        }
    }
}

/// `sha256:ab12cd34` from a full digest: algorithm plus eight hex digits.
pub fn short_digest(digest: &str) -> String {
    match digest.split_once(':') {
        Some((algorithm, hex)) => {
            format!("{algorithm}:{}", hex.chars().take(8).collect::<String>())
        }
        None => digest.chars().take(8).collect(),
    }
}

/// Split a manifest's reference text into the repository as spelled there and
/// the rest, so the repository spelling can be kept.
pub fn repository_part(text: &str) -> &str {
    let without_digest = text.split_once('@').map_or(text, |(name, _)| name);
    // A ':' after the last '/' starts the tag; one before it is a registry port.
    match without_digest.rfind(':') {
        Some(colon) if !without_digest[colon..].contains('/') => &without_digest[..colon],
        _ => without_digest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12";

    fn image(repository: &str, tag: Option<&str>, digest: Option<&str>) -> ImageRef {
        ImageRef {
            repository: repository.into(),
            tag: tag.map(String::from),
            digest: digest.map(String::from),
        }
    }

    #[test]
    fn references_are_checked_before_anything_is_written() {
        let cases = [
            ("tag", image("ghcr.io/acme/web", Some("1.4.2"), None), true),
            (
                "digest",
                image("ghcr.io/acme/web", None, Some(DIGEST)),
                true,
            ),
            (
                "both",
                image("ghcr.io/acme/web", Some("1.4.2"), Some(DIGEST)),
                true,
            ),
            ("port", image("registry:5000/web", Some("1"), None), true),
            (
                "no tag or digest",
                image("ghcr.io/acme/web", None, None),
                false,
            ),
            (
                "newline in tag",
                image("ghcr.io/acme/web", Some("1\nkind: Secret"), None),
                false,
            ),
            ("space", image("ghcr.io/acme/web", Some("1 2"), None), false),
            (
                "yaml comment",
                image("ghcr.io/acme/web", Some("1#x"), None),
                false,
            ),
            (
                "yaml flow",
                image("ghcr.io/acme/web", Some("{a}"), None),
                false,
            ),
            (
                "shell",
                image("ghcr.io/acme/web", Some("1;rm"), None),
                false,
            ),
            (
                "backtick",
                image("ghcr.io/acme/web", Some("`id`"), None),
                false,
            ),
            (
                "dollar",
                image("ghcr.io/acme/web", Some("$(id)"), None),
                false,
            ),
            ("quote", image("ghcr.io/acme/web", Some("1\""), None), false),
            (
                "unicode tag",
                image("ghcr.io/acme/web", Some("1ä"), None),
                false,
            ),
            (
                "uppercase repo",
                image("ghcr.io/Acme/web", Some("1"), None),
                false,
            ),
            (
                "short digest",
                image("ghcr.io/acme/web", None, Some("sha256:ab")),
                false,
            ),
            (
                "tag in repository",
                image("ghcr.io/acme/web:1", Some("2"), None),
                false,
            ),
            (
                "path trick",
                image("ghcr.io/acme/../web", Some("1"), None),
                false,
            ),
            ("too long", image(&"a".repeat(600), Some("1"), None), false),
        ];
        for (name, input, ok) in cases {
            assert_eq!(TargetImage::new(&input).is_ok(), ok, "{name}");
        }
    }

    #[test]
    fn references_print_tag_then_digest() {
        let target =
            TargetImage::new(&image("ghcr.io/acme/web", Some("1.4.2"), Some(DIGEST))).unwrap();
        assert_eq!(
            target.reference(),
            format!("ghcr.io/acme/web:1.4.2@{DIGEST}")
        );
        assert_eq!(target.short_label(), "1.4.2");
        assert_eq!(short_digest(DIGEST), "sha256:ab12cd34");
    }

    #[test]
    fn names_normalise_like_container_runtimes() {
        let cases = [
            ("docker hub short", "nginx:1", "docker.io", "library/nginx"),
            ("registry", "ghcr.io/acme/web:2", "ghcr.io", "acme/web"),
            ("port", "localhost:5000/web", "localhost:5000", "web"),
        ];
        for (name, text, registry, repository) in cases {
            let got = image_name(text).unwrap();
            assert_eq!(
                (got.registry.as_str(), got.repository.as_str()),
                (registry, repository),
                "{name}"
            );
        }
    }

    #[test]
    fn the_repository_part_keeps_ports_and_drops_tags() {
        for (text, want) in [
            ("nginx", "nginx"),
            ("nginx:1", "nginx"),
            ("host:5000/web:1", "host:5000/web"),
            ("host:5000/web", "host:5000/web"),
            ("web@sha256:00", "web"),
            ("web:1@sha256:00", "web"),
        ] {
            assert_eq!(repository_part(text), want, "{text}");
        }
    }
}
