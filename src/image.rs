//! Container image references: the one parser every adapter calls.
//!
//! A reference is `name[:tag][@digest]`, as the OCI distribution reference
//! grammar defines it (the grammar of `distribution/reference`, which
//! `oci-spec` implements and container runtimes use):
//!
//! - `name` is `[host[:port]/]path`, each path component lowercase
//!   `[a-z0-9]+([._-][a-z0-9]+)*`. The first component is a registry host only
//!   when it holds a `.` or a `:` or is `localhost`; so a `:` is a tag
//!   separator only after the last `/`, and `registry:5000/web` has a port, not
//!   the tag `5000/web`.
//! - `tag` is `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
//! - `digest` is `sha256:` and 64 lowercase hex digits, or `sha512:` and 128
//!   (the algorithms the OCI image spec registers).
//!
//! Names compare as the runtime resolves them: `nginx` is
//! `docker.io/library/nginx`, `index.docker.io/x/y` is `docker.io/x/y`, and a
//! host name is case-blind (`GHCR.io` is `ghcr.io`); an uppercase letter in
//! the repository path is refused.

use std::fmt;

use oci_spec::distribution::Reference;
use serde::{Deserialize, Serialize};

/// Longest reference accepted, in bytes (the grammar allows 255 for a name,
/// 128 for a tag and 135 for a `sha512` digest).
pub const MAX_REFERENCE_LEN: usize = 512;

/// Longest tag the distribution spec allows, in characters.
pub const MAX_TAG_LEN: usize = 128;

/// Which part of a reference was wrong, for errors that name a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferencePart {
    /// The registry host and repository path.
    Name,
    /// The tag.
    Tag,
    /// The digest.
    Digest,
}

impl ReferencePart {
    /// `name`, `tag` or `digest`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReferencePart::Name => "name",
            ReferencePart::Tag => "tag",
            ReferencePart::Digest => "digest",
        }
    }
}

/// Why a text is not an image reference (or not the kind wanted).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageRefError {
    /// The part is present but empty.
    #[error("the image {} is empty", .0.as_str())]
    Empty(ReferencePart),
    /// Longer than the grammar allows.
    #[error("the image {} is too long", .0.as_str())]
    TooLong(ReferencePart),
    /// A character outside the part's alphabet (space, newline, quote, `$`,
    /// `#`, non-ASCII, ...). The text is not echoed: it may be anything.
    #[error("the image {} holds a character that is not allowed", .0.as_str())]
    ForbiddenCharacter(ReferencePart),
    /// An uppercase letter in the repository path (repositories are lowercase).
    #[error("the image name has an uppercase letter; repositories are lowercase")]
    Uppercase,
    /// Not a `[host[:port]/]path` name.
    #[error("the image name is not a valid repository name")]
    InvalidName,
    /// Not a valid tag.
    #[error("the image tag is not a valid tag")]
    InvalidTag,
    /// Not a full `sha256` or `sha512` digest in lowercase hex.
    #[error("the image digest is not a sha256 or sha512 digest")]
    InvalidDigest,
    /// A tag or digest where only a repository name belongs.
    #[error("a repository name without tag or digest is expected")]
    NotAName,
    /// Neither tag nor digest where one is needed.
    #[error("the image names neither a tag nor a digest")]
    Unpinned,
}

impl ImageRefError {
    /// The part of the reference the error is about.
    pub fn part(&self) -> ReferencePart {
        match self {
            ImageRefError::Empty(p)
            | ImageRefError::TooLong(p)
            | ImageRefError::ForbiddenCharacter(p) => *p,
            ImageRefError::InvalidTag | ImageRefError::Unpinned => ReferencePart::Tag,
            ImageRefError::InvalidDigest => ReferencePart::Digest,
            ImageRefError::Uppercase | ImageRefError::InvalidName | ImageRefError::NotAName => {
                ReferencePart::Name
            }
        }
    }
}

/// A registry and repository, normalised as container runtimes resolve them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageName {
    registry: String,
    repository: String,
}

impl ImageName {
    /// Parse a repository name without tag or digest (`slipway.yaml`'s
    /// `image:`, a kustomization `images[].name`): `localhost:5000/web`,
    /// `ghcr.io/acme/web`, `nginx`.
    pub fn parse(text: &str) -> Result<Self, ImageRefError> {
        let text = text.trim();
        if text.contains('@') || tag_colon(text).is_some() {
            return Err(ImageRefError::NotAName);
        }
        check_name(text)
    }

    /// Registry host, with its port when it has one (`docker.io`, `localhost:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// Repository path within the registry (`library/nginx`, `acme/web`).
    pub fn repository(&self) -> &str {
        &self.repository
    }
}

/// `registry/repository`, fully spelled out (`docker.io/library/nginx`).
impl fmt::Display for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)
    }
}

/// A container image: repository plus tag and/or digest.
///
/// `repository` keeps the spelling it was given (`nginx` stays `nginx`, so an
/// edit keeps a manifest's own spelling); [`ImageRef::name`] is the normalised
/// name to compare. Values built by [`ImageRef::parse`] or
/// [`ImageRef::from_parts`] are valid; values read back from the store were
/// valid when they were stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ImageRef {
    /// Registry host and path, without tag or digest (`ghcr.io/acme/web`).
    pub repository: String,
    /// The tag, when the image has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The manifest digest (`sha256:<64 hex>`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parse `name[:tag][@digest]`. No tag is implied: `nginx` has neither.
    pub fn parse(text: &str) -> Result<Self, ImageRefError> {
        let text = text.trim();
        if text.len() > MAX_REFERENCE_LEN {
            return Err(ImageRefError::TooLong(ReferencePart::Name));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (text, None),
        };
        let (name, tag) = match tag_colon(rest) {
            Some(colon) => (&rest[..colon], Some(&rest[colon + 1..])),
            None => (rest, None),
        };
        Self::from_parts(name, tag, digest)
    }

    /// Build from the parts a sender reports separately, checking each one.
    /// An empty tag or digest is an error, not an absent one: a sender that
    /// names the field must fill it.
    pub fn from_parts(
        repository: &str,
        tag: Option<&str>,
        digest: Option<&str>,
    ) -> Result<Self, ImageRefError> {
        let repository = repository.trim();
        if repository.contains('@') || tag_colon(repository).is_some() {
            return Err(ImageRefError::NotAName);
        }
        check_name(repository)?;
        if let Some(tag) = tag {
            check_tag(tag)?;
        }
        if let Some(digest) = digest {
            check_digest(digest)?;
        }
        Ok(ImageRef {
            repository: repository.to_string(),
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
        })
    }

    /// Parse and insist on a tag or a digest: something that can be deployed.
    pub fn parse_pinned(text: &str) -> Result<Self, ImageRefError> {
        Self::parse(text)?.pinned()
    }

    /// `self`, or [`ImageRefError::Unpinned`] when it names neither tag nor digest.
    pub fn pinned(self) -> Result<Self, ImageRefError> {
        if self.tag.is_none() && self.digest.is_none() {
            return Err(ImageRefError::Unpinned);
        }
        Ok(self)
    }

    /// The normalised registry and repository.
    ///
    /// Falls back to the lowercase text for a repository that does not parse
    /// (only possible for a value built by hand), so comparing never panics.
    pub fn name(&self) -> ImageName {
        check_name(&self.repository).unwrap_or_else(|_| ImageName {
            registry: String::new(),
            repository: self.repository.to_ascii_lowercase(),
        })
    }

    /// The same tag and digest on another spelling of the repository.
    pub fn with_repository(&self, repository: &str) -> ImageRef {
        ImageRef {
            repository: repository.to_string(),
            tag: self.tag.clone(),
            digest: self.digest.clone(),
        }
    }
}

/// `repo:tag@digest`, `repo:tag`, `repo@digest` or `repo`.
impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Whether two repository spellings name the same image repository.
pub fn same_repository(a: &str, b: &str) -> bool {
    match (ImageName::parse(a), ImageName::parse(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// A digest Slipway can pin: `sha256:` + 64 or `sha512:` + 128 lowercase hex digits.
pub fn is_digest(text: &str) -> bool {
    check_digest(text).is_ok()
}

/// The byte offset of the `:` that starts a tag: one after the last `/`.
/// A `:` before it separates a registry port.
fn tag_colon(text: &str) -> Option<usize> {
    let after_slash = text.rfind('/').map_or(0, |i| i + 1);
    text[after_slash..].find(':').map(|i| after_slash + i)
}

fn check_name(text: &str) -> Result<ImageName, ImageRefError> {
    if text.is_empty() {
        return Err(ImageRefError::Empty(ReferencePart::Name));
    }
    if text.len() > MAX_REFERENCE_LEN {
        return Err(ImageRefError::TooLong(ReferencePart::Name));
    }
    if !text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/' | b':'))
    {
        return Err(ImageRefError::ForbiddenCharacter(ReferencePart::Name));
    }
    // The grammar: a placeholder tag makes oci-spec parse the name alone.
    let parsed = Reference::try_from(format!("{text}:0")).map_err(|e| match e {
        oci_spec::distribution::ParseError::NameContainsUppercase => ImageRefError::Uppercase,
        oci_spec::distribution::ParseError::NameTooLong => {
            ImageRefError::TooLong(ReferencePart::Name)
        }
        _ if text.bytes().any(|b| b.is_ascii_uppercase()) => ImageRefError::Uppercase,
        _ => ImageRefError::InvalidName,
    })?;
    if parsed.tag() != Some("0") || parsed.digest().is_some() {
        return Err(ImageRefError::InvalidName);
    }
    // Host names are case-blind; repository paths are lowercase (oci-spec
    // lets an uppercase first component through as a host, then moves it here).
    if parsed.repository().bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(ImageRefError::Uppercase);
    }
    Ok(ImageName {
        registry: parsed.registry().to_ascii_lowercase(),
        repository: parsed.repository().to_string(),
    })
}

fn check_tag(tag: &str) -> Result<(), ImageRefError> {
    let part = ReferencePart::Tag;
    if tag.is_empty() {
        return Err(ImageRefError::Empty(part));
    }
    if tag.len() > MAX_TAG_LEN {
        return Err(ImageRefError::TooLong(part));
    }
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    if !tag.bytes().all(|b| word(b) || matches!(b, b'.' | b'-')) {
        return Err(ImageRefError::ForbiddenCharacter(part));
    }
    if !word(tag.as_bytes()[0]) {
        return Err(ImageRefError::InvalidTag);
    }
    Ok(())
}

fn check_digest(digest: &str) -> Result<(), ImageRefError> {
    if digest.is_empty() {
        return Err(ImageRefError::Empty(ReferencePart::Digest));
    }
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err(ImageRefError::InvalidDigest);
    };
    let length = match algorithm {
        "sha256" => 64,
        "sha512" => 128,
        _ => return Err(ImageRefError::InvalidDigest),
    };
    let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    if hex.len() != length || !hex.bytes().all(lower_hex) {
        return Err(ImageRefError::InvalidDigest);
    }
    Ok(())
}

#[cfg(test)]
#[path = "image_tests.rs"]
mod tests;
