//! How Slipway orders image tags and images: the one version order the
//! policy's `no_downgrade` and `image.semver` rules and the writer's re-check
//! all use.
//!
//! A tag is read as a version the way Flux, Argo CD Image Updater and Kargo
//! read it (Masterminds semver): an optional leading `v` or `V`, one to three
//! numeric parts (`1.10` is `1.10.0`, `1` is `1.0.0`), then an optional
//! pre-release (`-rc.1`) and build metadata (`+b.5`) as SemVer 2.0.0 writes
//! them. Versions compare by SemVer precedence: build metadata is ignored, and
//! pre-releases order before their release and among themselves by SemVer's
//! rules (`1.0.0-alpha < 1.0.0-alpha.1 < 1.0.0-beta < 1.0.0-rc.1 < 1.0.0`).

use std::cmp::Ordering;

use jiff::Timestamp;
use semver::{BuildMetadata, Prerelease, Version};

/// The version `tag` names, or `None` when the tag is not one (`latest`,
/// `main-3f2a1c`, `1.2.3.4`, `1.x`).
///
/// Numeric parts may carry leading zeros (`2024.01.15` is `2024.1.15`), as
/// Masterminds reads them; the pre-release and build metadata follow SemVer
/// 2.0.0 strictly, checked by the `semver` crate.
pub fn version_of_tag(tag: &str) -> Option<Version> {
    let bare = tag.strip_prefix(['v', 'V']).unwrap_or(tag);
    let (rest, build) = match bare.split_once('+') {
        Some((rest, build)) => (rest, BuildMetadata::new(non_empty(build)?).ok()?),
        None => (bare, BuildMetadata::EMPTY),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Prerelease::new(non_empty(pre)?).ok()?),
        None => (rest, Prerelease::EMPTY),
    };
    let mut parts = [0u64; 3];
    for (index, part) in core.split('.').enumerate() {
        let slot = parts.get_mut(index)?;
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = part.parse().ok()?;
    }
    let [major, minor, patch] = parts;
    Some(Version {
        major,
        minor,
        patch,
        pre,
        build,
    })
}

/// `-` and `+` must be followed by something.
fn non_empty(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

/// What the version order knows about one image: its tag and, when a
/// registry or CI event said, when it was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// The image's tag, if it has one.
    pub tag: Option<&'a str>,
    /// When the image was built, if known.
    pub built_at: Option<Timestamp>,
}

/// How a new image orders against an old one, with what was compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageOrder {
    /// Both tags are versions: SemVer precedence decides.
    Versions {
        /// `new` against `old`.
        ordering: Ordering,
        /// The new image's version.
        new: Version,
        /// The old image's version.
        old: Version,
    },
    /// Not both versions, but both build times are known: they decide.
    BuildTimes {
        /// `new` against `old`.
        ordering: Ordering,
        /// When the new image was built.
        new: Timestamp,
        /// When the old image was built.
        old: Timestamp,
    },
    /// Neither applies: the images cannot be ordered.
    Unordered,
}

impl ImageOrder {
    /// `new` against `old`, or `None` when they cannot be ordered.
    pub fn ordering(&self) -> Option<Ordering> {
        match self {
            ImageOrder::Versions { ordering, .. } | ImageOrder::BuildTimes { ordering, .. } => {
                Some(*ordering)
            }
            ImageOrder::Unordered => None,
        }
    }
}

/// Order image `new` against image `old`: by SemVer precedence when both
/// tags are versions; otherwise by build time when both carry one;
/// otherwise [`ImageOrder::Unordered`] (a version against a tag that is not
/// one, with a build time missing, cannot be ordered).
pub fn order_images(new: Candidate<'_>, old: Candidate<'_>) -> ImageOrder {
    let versions = (
        new.tag.and_then(version_of_tag),
        old.tag.and_then(version_of_tag),
    );
    if let (Some(new), Some(old)) = versions {
        return ImageOrder::Versions {
            ordering: new.cmp_precedence(&old),
            new,
            old,
        };
    }
    match (new.built_at, old.built_at) {
        (Some(new), Some(old)) => ImageOrder::BuildTimes {
            ordering: new.cmp(&old),
            new,
            old,
        },
        _ => ImageOrder::Unordered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tagged(tag: &str) -> Candidate<'_> {
        Candidate {
            tag: Some(tag),
            built_at: None,
        }
    }

    fn built<'a>(tag: &'a str, at: &str) -> Candidate<'a> {
        Candidate {
            tag: Some(tag),
            built_at: Some(at.parse().unwrap()),
        }
    }

    #[test]
    fn tags_read_as_versions() {
        let cases = [
            ("three parts", "1.2.3", Some("1.2.3")),
            ("two parts read as x.y.0", "1.10", Some("1.10.0")),
            ("one part reads as x.0.0", "7", Some("7.0.0")),
            ("leading v", "v1.2", Some("1.2.0")),
            ("leading V", "V1.2.3", Some("1.2.3")),
            ("pre-release", "1.2-rc.1", Some("1.2.0-rc.1")),
            ("build metadata", "v1.0.0+b.2", Some("1.0.0+b.2")),
            (
                "pre-release and build",
                "1.0.0-beta.2+exp.sha.5114f85",
                Some("1.0.0-beta.2+exp.sha.5114f85"),
            ),
            ("leading zeros in numbers", "2024.01.15", Some("2024.1.15")),
            ("four parts", "1.2.3.4", None),
            ("empty part", "1..2", None),
            ("trailing dot", "1.2.", None),
            ("word", "latest", None),
            ("branch and commit", "main-3f2a1c", None),
            ("wildcard", "1.x", None),
            ("empty", "", None),
            ("only v", "v", None),
            ("double v", "vv1.2.3", None),
            ("empty pre-release", "1.2.3-", None),
            ("empty build", "1.2.3+", None),
            ("pre-release with leading zero", "1.2.3-rc.01", None),
            ("sign", "+1.2.3", None),
            ("too large", "99999999999999999999.0.0", None),
        ];
        for (name, tag, want) in cases {
            let got = version_of_tag(tag).map(|v| v.to_string());
            assert_eq!(got.as_deref(), want, "{name}");
        }
    }

    #[test]
    fn images_order_by_version_then_build_time() {
        use Ordering::{Equal, Greater, Less};
        let cases = [
            ("1.9 < 1.10", tagged("1.9"), tagged("1.10"), Some(Less)),
            ("1.10 > 1.9", tagged("1.10"), tagged("1.9"), Some(Greater)),
            (
                "v1.2 == 1.2.0",
                tagged("v1.2"),
                tagged("1.2.0"),
                Some(Equal),
            ),
            (
                "1.0.0+b.2 == 1.0.0+b.1 in precedence",
                tagged("1.0.0+b.2"),
                tagged("1.0.0+b.1"),
                Some(Equal),
            ),
            (
                "alpha < alpha.1",
                tagged("1.0.0-alpha"),
                tagged("1.0.0-alpha.1"),
                Some(Less),
            ),
            (
                "alpha.1 < beta",
                tagged("1.0.0-alpha.1"),
                tagged("1.0.0-beta"),
                Some(Less),
            ),
            (
                "beta < rc.1",
                tagged("1.0.0-beta"),
                tagged("1.0.0-rc.1"),
                Some(Less),
            ),
            (
                "rc.1 < release",
                tagged("1.0.0-rc.1"),
                tagged("1.0.0"),
                Some(Less),
            ),
            (
                "rc.2 < rc.10 numerically",
                tagged("1.0.0-rc.2"),
                tagged("1.0.0-rc.10"),
                Some(Less),
            ),
            (
                "a non-version tag against a version is unordered",
                tagged("main-3f2a1c"),
                tagged("1.2.0"),
                None,
            ),
            (
                "a version against a non-version tag is unordered",
                tagged("1.2.0"),
                tagged("latest"),
                None,
            ),
            (
                "a build time wins when both carry one",
                built("main-2", "2026-06-10T11:00:00Z"),
                built("1.2.0", "2026-06-10T10:00:00Z"),
                Some(Greater),
            ),
            (
                "an older build time orders before",
                built("main-1", "2026-06-10T09:00:00Z"),
                built("main-2", "2026-06-10T10:00:00Z"),
                Some(Less),
            ),
            (
                "versions decide before build times",
                built("1.9", "2026-06-10T11:00:00Z"),
                built("1.10", "2026-06-10T10:00:00Z"),
                Some(Less),
            ),
            (
                "one build time is not enough",
                built("main-2", "2026-06-10T11:00:00Z"),
                tagged("main-1"),
                None,
            ),
            (
                "no tags and no build times",
                Candidate::default(),
                Candidate::default(),
                None,
            ),
        ];
        for (name, new, old, want) in cases {
            assert_eq!(order_images(new, old).ordering(), want, "{name}");
        }
    }
}
