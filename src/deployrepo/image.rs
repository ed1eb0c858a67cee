//! The image an edit writes, checked before anything is written.
//!
//! Everything written into a manifest passes through [`TargetImage::new`],
//! which holds it to the reference grammar of [`crate::image`], so a newline,
//! a space, a quote or a shell or YAML metacharacter can never reach a file,
//! a commit message or a branch name.

use crate::image::{ImageRef, ImageRefError};

pub use crate::image::ImageName;

/// Parse a reference found in a manifest (or an event) with the one parser.
pub fn parse_reference(text: &str) -> Result<ImageRef, ImageRefError> {
    ImageRef::parse(text)
}

/// The normalised name of a reference text, or `None` when it is not a valid
/// reference (such values, a template placeholder say, are left alone by the editor).
pub fn image_name(text: &str) -> Option<ImageName> {
    ImageRef::parse(text).ok().map(|r| r.name())
}

/// The image an edit writes: a repository with a tag, a digest or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetImage {
    image: ImageRef,
    name: ImageName,
}

impl TargetImage {
    /// Validate an image from an event: every part against the grammar, and
    /// a tag or a digest to pin.
    pub fn new(image: &ImageRef) -> Result<Self, ImageRefError> {
        let image = ImageRef::from_parts(
            &image.repository,
            image.tag.as_deref(),
            image.digest.as_deref(),
        )?
        .pinned()?;
        let name = image.name();
        Ok(TargetImage { image, name })
    }

    /// Repository as the event named it (`ghcr.io/acme/web`).
    pub fn repository(&self) -> &str {
        &self.image.repository
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.image.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&str> {
        self.image.digest.as_deref()
    }

    /// Normalised name, for matching references in manifests.
    pub fn name(&self) -> &ImageName {
        &self.name
    }

    /// `repo:tag@digest`, `repo:tag` or `repo@digest`.
    pub fn reference(&self) -> String {
        self.image.to_string()
    }

    /// The same tag and digest on another spelling of the repository, so an
    /// edit keeps the manifest's own spelling (`nginx` stays `nginx`).
    pub fn with_repository(&self, repository: &str) -> String {
        self.image.with_repository(repository).to_string()
    }

    /// A short label for commit subjects: the tag, else the digest.
    pub fn short_label(&self) -> String {
        match (self.tag(), self.digest()) {
            (Some(tag), _) => tag.to_string(),
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

/// The repository as a manifest's reference text spells it (its tag and
/// digest dropped), so the spelling can be kept; the text itself when it does
/// not parse.
pub fn repository_part(text: &str) -> String {
    ImageRef::parse(text).map_or_else(|_| text.to_string(), |r| r.repository)
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
                (got.registry(), got.repository()),
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
            (format!("web@{DIGEST}").as_str(), "web"),
            (format!("web:1@{DIGEST}").as_str(), "web"),
            ("not a reference", "not a reference"),
        ] {
            assert_eq!(repository_part(text), want, "{text}");
        }
    }
}
