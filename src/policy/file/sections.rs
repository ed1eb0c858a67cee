//! The `image` and `source` sections.

use super::errors::regex_message;
use super::{Builder, RawImage, RawSource};
use crate::event::Provider;
use crate::policy::PolicyError;
use crate::policy::rules::{Rule, SemverRule, TagPattern};

impl Builder<'_> {
    pub(super) fn image(&self, raw: RawImage, rules: &mut Vec<Rule>) -> Result<(), PolicyError> {
        if let Some(list) = raw.registries {
            rules.push(Rule::Registries(self.patterns(list, "image.registries")?));
        }
        if let Some(list) = raw.repositories {
            rules.push(Rule::Repositories(
                self.patterns(list, "image.repositories")?,
            ));
        }
        if let Some(p) = raw.tag_pattern {
            let rule = TagPattern::new(&p.value).map_err(|e| {
                self.invalid(
                    &p.referenced,
                    "image.tag_pattern",
                    format!("not a regex: {}", regex_message(&e)),
                )
            })?;
            rules.push(Rule::TagPattern(rule));
        }
        if let Some(range) = raw.semver {
            let parsed = semver::VersionReq::parse(&range.value).map_err(|e| {
                self.invalid(
                    &range.referenced,
                    "image.semver",
                    format!("not a version range: {e}"),
                )
            })?;
            rules.push(Rule::Semver(SemverRule {
                range: parsed,
                allow_prerelease: raw.allow_prerelease,
            }));
        }
        if raw.require_digest {
            rules.push(Rule::RequireDigest);
        }
        if let Some(tags) = raw.mutable_tags {
            rules.push(Rule::MutableTags(tags));
        }
        Ok(())
    }

    pub(super) fn source(&self, raw: RawSource, rules: &mut Vec<Rule>) -> Result<(), PolicyError> {
        if let Some(list) = raw.providers {
            let mut providers = Vec::new();
            for (i, p) in list.iter().enumerate() {
                let parsed: Provider = serde_json::from_value(serde_json::Value::String(p.value.clone()))
                    .map_err(|_| {
                        self.invalid(
                            &p.referenced,
                            &format!("source.providers[{i}]"),
                            format!("unknown provider {:?} (github, gitlab, generic, harbor, dockerhub, quay, pubsub, sync, operator)", p.value),
                        )
                    })?;
                providers.push(parsed);
            }
            rules.push(Rule::SourceProviders(providers));
        }
        if let Some(list) = raw.repositories {
            rules.push(Rule::SourceRepositories(
                self.patterns(list, "source.repositories")?,
            ));
        }
        if let Some(list) = raw.refs {
            rules.push(Rule::SourceRefs(self.patterns(list, "source.refs")?));
        }
        Ok(())
    }
}
