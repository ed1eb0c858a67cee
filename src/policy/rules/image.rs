//! Rules about the image reference itself.

use regex::Regex;
use semver::{Version, VersionReq};

use super::{Context, Finding, Patterns};
use crate::version::version_of_tag;

pub(super) fn registries(allowed: &Patterns, ctx: &Context<'_>) -> Finding {
    const RULE: &str = "image.registries";
    let name = ctx.request.image.name();
    let registry = name.registry();
    match allowed.matching(registry) {
        Some(p) => Finding::pass(RULE, format!("registry {registry} matches {p}")),
        None => Finding::deny(
            RULE,
            format!("registry {registry} is not in {}", allowed.list()),
        ),
    }
}

pub(super) fn repositories(allowed: &Patterns, ctx: &Context<'_>) -> Finding {
    const RULE: &str = "image.repositories";
    let given = &ctx.request.image.repository;
    let found = allowed
        .matching(given)
        .or_else(|| allowed.matching(&ctx.request.image.name().to_string()));
    match found {
        Some(p) => Finding::pass(RULE, format!("repository {given} matches {p}")),
        None => Finding::deny(
            RULE,
            format!("repository {given} is not in {}", allowed.list()),
        ),
    }
}

/// `image.tag_pattern`: a regex the whole tag must match.
#[derive(Debug, Clone)]
pub struct TagPattern {
    pattern: String,
    anchored: Regex,
}

impl TagPattern {
    /// Compile `pattern`, anchored at both ends.
    pub fn new(pattern: &str) -> Result<Self, regex::Error> {
        Ok(TagPattern {
            pattern: pattern.to_string(),
            anchored: Regex::new(&format!("^(?:{pattern})$"))?,
        })
    }

    pub(super) fn check(&self, ctx: &Context<'_>) -> Finding {
        const RULE: &str = "image.tag_pattern";
        match &ctx.request.image.tag {
            None => Finding::deny(RULE, format!("no tag to match against /{}/", self.pattern)),
            Some(tag) if self.anchored.is_match(tag) => {
                Finding::pass(RULE, format!("tag {tag} matches /{}/", self.pattern))
            }
            Some(tag) => {
                Finding::deny(RULE, format!("tag {tag} does not match /{}/", self.pattern))
            }
        }
    }
}

/// `image.semver`: the tag, read as a version ([`version_of_tag`]: `v1.4`
/// is `1.4.0`), lies in a range.
///
/// Pre-releases are refused unless `allow_prerelease`; when allowed, a
/// pre-release is judged as the release it leads to (`2.0.0-rc.1` as `2.0.0`).
#[derive(Debug, Clone)]
pub struct SemverRule {
    /// The range.
    pub range: VersionReq,
    /// Whether pre-release versions may be deployed at all.
    pub allow_prerelease: bool,
}

impl SemverRule {
    pub(super) fn check(&self, ctx: &Context<'_>) -> Finding {
        const RULE: &str = "image.semver";
        let Some(tag) = &ctx.request.image.tag else {
            return Finding::deny(RULE, format!("no tag to compare with {}", self.range));
        };
        let Some(version) = version_of_tag(tag) else {
            return Finding::deny(RULE, format!("tag {tag} is not a semantic version"));
        };
        if !version.pre.is_empty() && !self.allow_prerelease {
            return Finding::deny(
                RULE,
                format!("{version} is a pre-release and allow_prerelease is false"),
            );
        }
        let judged = if version.pre.is_empty() {
            version.clone()
        } else {
            Version::new(version.major, version.minor, version.patch)
        };
        if self.range.matches(&judged) {
            Finding::pass(RULE, format!("{version} is in {}", self.range))
        } else {
            Finding::deny(RULE, format!("{version} is not in {}", self.range))
        }
    }
}

pub(super) fn require_digest(ctx: &Context<'_>) -> Finding {
    const RULE: &str = "image.require_digest";
    match &ctx.request.image.digest {
        None => Finding::deny(RULE, "the image names no digest".into()),
        Some(d) if crate::image::is_digest(d) => Finding::pass(RULE, format!("digest {d} given")),
        Some(d) => Finding::deny(RULE, format!("{d} is not a sha256 or sha512 digest")),
    }
}

pub(super) fn mutable_tags(refused: &[String], ctx: &Context<'_>) -> Finding {
    const RULE: &str = "image.mutable_tags";
    let list = format!("[{}]", refused.join(", "));
    match &ctx.request.image.tag {
        None => Finding::pass(RULE, "no tag; the digest names the image".into()),
        Some(tag) if refused.iter().any(|r| r.eq_ignore_ascii_case(tag)) => {
            Finding::deny(RULE, format!("tag {tag} is mutable (refused: {list})"))
        }
        Some(tag) => Finding::pass(RULE, format!("tag {tag} is not in {list}")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{NOW, context, request};
    use super::*;
    use crate::policy::decision::StepResult;
    use crate::policy::facts::Facts;

    fn passes(finding: Finding) -> bool {
        finding.result == StepResult::Pass
    }

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn registries_and_repositories_match_patterns() {
        let allowed_registries =
            Patterns::new(vec!["ghcr.io".into(), "*.example.com".into()]).unwrap();
        let repos = Patterns::new(vec![
            "ghcr.io/acme/*".into(),
            "docker.io/library/nginx".into(),
        ])
        .unwrap();
        let cases = [
            ("ghcr registry", "ghcr.io/acme/web:1", true, true),
            (
                "wildcard registry",
                "reg.example.com/acme/web:1",
                true,
                false,
            ),
            ("docker hub implied", "nginx:1", false, true),
            ("other registry", "quay.io/acme/web:1", false, false),
            ("case-blind host", "GHCR.io/acme/web:1", true, true),
            (
                "prefix is not a match",
                "ghcr.io.evil.com/acme/web:1",
                false,
                false,
            ),
        ];
        let facts = Facts::default();
        for (name, image, registry_ok, repo_ok) in cases {
            let req = request(image);
            let ctx = context(&req, &facts, NOW);
            assert_eq!(
                passes(registries(&allowed_registries, &ctx)),
                registry_ok,
                "{name} registry"
            );
            assert_eq!(
                passes(repositories(&repos, &ctx)),
                repo_ok,
                "{name} repository"
            );
        }
    }

    #[test]
    fn tag_pattern_must_match_the_whole_tag() {
        let rule = TagPattern::new(r"v\d+\.\d+\.\d+").unwrap();
        let cases = [
            ("exact", "r:v1.2.3", true),
            ("suffix not allowed", "r:v1.2.3-dirty", false),
            ("prefix not allowed", "r:xv1.2.3", false),
            ("no tag", "r", false),
        ];
        let facts = Facts::default();
        for (name, image, want) in cases {
            let req = request(image);
            assert_eq!(
                passes(rule.check(&context(&req, &facts, NOW))),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn semver_ranges_and_prereleases() {
        let cases = [
            ("in range", ">=1.2.0, <2.0.0", false, "r:v1.4.0", true),
            (
                "lower edge included",
                ">=1.2.0, <2.0.0",
                false,
                "r:1.2.0",
                true,
            ),
            (
                "upper edge excluded",
                ">=1.2.0, <2.0.0",
                false,
                "r:2.0.0",
                false,
            ),
            ("below", ">=1.2.0", false, "r:1.1.9", false),
            (
                "prerelease refused by default",
                ">=1.0.0",
                false,
                "r:1.5.0-rc.1",
                false,
            ),
            (
                "prerelease allowed is judged as its release",
                ">=1.0.0",
                true,
                "r:1.5.0-rc.1",
                true,
            ),
            (
                "prerelease of excluded release",
                ">=1.0.0, <2.0.0",
                true,
                "r:2.0.0-rc.1",
                false,
            ),
            (
                "prerelease of lower edge",
                ">=1.2.0",
                true,
                "r:1.2.0-alpha",
                true,
            ),
            (
                "build metadata ignored",
                "=1.2.3",
                false,
                "r:1.2.3+build.5",
                true,
            ),
            ("not a version", ">=1.0.0", false, "r:main-abc123", false),
            (
                "two-part tag reads as x.y.0",
                ">=1.10.0",
                false,
                "r:1.10",
                true,
            ),
            (
                "two-part tag below the range",
                ">=1.10.0",
                false,
                "r:v1.9",
                false,
            ),
            ("no tag", ">=1.0.0", false, "r", false),
        ];
        let facts = Facts::default();
        for (name, range, allow_prerelease, image, want) in cases {
            let rule = SemverRule {
                range: VersionReq::parse(range).unwrap(),
                allow_prerelease,
            };
            let req = request(image);
            assert_eq!(
                passes(rule.check(&context(&req, &facts, NOW))),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn digest_required_and_mutable_tags_refused() {
        let bad_hex = DIGEST.replace('a', "A");
        let cases = [
            ("digest given", format!("r:1@{DIGEST}"), true, true),
            ("no digest", "r:1".to_string(), false, true),
            ("uppercase hex", format!("r:1@{bad_hex}"), false, true),
            ("short digest", "r:1@sha256:abc".to_string(), false, true),
            ("latest refused", "r:latest".to_string(), false, false),
            ("LATEST refused", "r:LATEST".to_string(), false, false),
            ("digest only", format!("r@{DIGEST}"), true, true),
        ];
        let refused = vec!["latest".to_string(), "stable".to_string()];
        let facts = Facts::default();
        for (name, image, digest_ok, tag_ok) in cases {
            let mut req = request("r:1");
            req.image = request(&image).image;
            if let Some((repo, digest)) = image.split_once('@')
                && !repo.contains(':')
            {
                req.image.tag = None;
                req.image.digest = Some(digest.into());
            }
            let ctx = context(&req, &facts, NOW);
            assert_eq!(passes(require_digest(&ctx)), digest_ok, "{name} digest");
            assert_eq!(passes(mutable_tags(&refused, &ctx)), tag_ok, "{name} tag");
        }
    }
}
