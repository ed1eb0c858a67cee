//! The typed rules a policy holds and how each judges a request.
//!
//! Every rule is built by the loader from validated input, so checking one
//! cannot fail: it only compares values and says what it compared.

mod history;
mod image;
mod promotion;
mod source;
mod tested;
pub(crate) mod window;

use jiff::Timestamp;
use regex::Regex;

use super::decision::StepResult;
use super::facts::Facts;
use super::request::DeployRequest;
use crate::event::SourceInfo;

pub use history::RateLimit;
pub use image::{SemverRule, TagPattern};
pub use promotion::Promotion;
pub use tested::TestedArtifact;
pub use window::Windows;

/// What a rule sees: the request, the facts gathered for it, and the time.
pub(crate) struct Context<'a> {
    pub request: &'a DeployRequest,
    pub facts: &'a Facts,
    pub now: Timestamp,
    /// The request's source completed by what the store recorded.
    pub source: SourceInfo,
    /// The environment the target is promoted from, if it is not the first.
    pub upstream: Option<&'a str>,
}

/// One conclusion of a rule, before it is attributed to its policy.
pub(crate) struct Finding {
    pub rule: &'static str,
    pub compared: String,
    pub result: StepResult,
}

impl Finding {
    fn pass(rule: &'static str, compared: String) -> Self {
        Finding {
            rule,
            compared,
            result: StepResult::Pass,
        }
    }

    fn deny(rule: &'static str, compared: String) -> Self {
        Finding {
            rule,
            compared,
            result: StepResult::Deny,
        }
    }
}

/// A list of `*` wildcard patterns, matched against whole values without letter case.
#[derive(Debug, Clone)]
pub struct Patterns {
    raw: Vec<String>,
    compiled: Vec<Regex>,
}

impl Patterns {
    /// Compile `*` patterns; other characters match themselves.
    pub fn new(raw: Vec<String>) -> Result<Self, regex::Error> {
        let compiled = raw
            .iter()
            .map(|p| {
                let body = p
                    .split('*')
                    .map(regex::escape)
                    .collect::<Vec<_>>()
                    .join(".*");
                Regex::new(&format!("(?i)^{body}$"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Patterns { raw, compiled })
    }

    /// The first pattern that matches `value`.
    pub fn matching(&self, value: &str) -> Option<&str> {
        self.compiled
            .iter()
            .position(|r| r.is_match(value))
            .map(|i| self.raw[i].as_str())
    }

    /// The patterns as written, for traces.
    pub fn list(&self) -> String {
        format!("[{}]", self.raw.join(", "))
    }
}

/// One rule of a policy.
#[derive(Debug, Clone)]
pub enum Rule {
    /// `image.registries`: the image's registry host is one of these.
    Registries(Patterns),
    /// `image.repositories`: the image repository matches one of these.
    Repositories(Patterns),
    /// `image.tag_pattern`: the whole tag matches a regex.
    TagPattern(TagPattern),
    /// `image.semver`: the tag is a version inside a range.
    Semver(SemverRule),
    /// `image.require_digest`: the image names its digest.
    RequireDigest,
    /// `image.mutable_tags`: tags that move and are refused.
    MutableTags(Vec<String>),
    /// `source.providers`: the event came from one of these senders.
    SourceProviders(Vec<crate::event::Provider>),
    /// `source.repositories`: the image was built from one of these repositories.
    SourceRepositories(Patterns),
    /// `source.refs`: the image was built from one of these refs.
    SourceRefs(Patterns),
    /// `tested_artifact`: the source commit passed its pipeline; the digest is the one built.
    TestedArtifact(TestedArtifact),
    /// `no_downgrade`: never older than what is desired, unless a rollback.
    NoDowngrade,
    /// `promotion`: verified upstream and soaked there first.
    Promotion(Promotion),
    /// `windows`: deploy windows and freezes.
    Windows(Windows),
    /// `rate_limit`: at most N deploys per hour.
    RateLimit(RateLimit),
}

impl Rule {
    /// Judge the request; a rule may report more than one finding.
    pub(crate) fn check(&self, ctx: &Context<'_>, out: &mut Vec<Finding>) {
        match self {
            Rule::Registries(p) => out.push(image::registries(p, ctx)),
            Rule::Repositories(p) => out.push(image::repositories(p, ctx)),
            Rule::TagPattern(t) => out.push(t.check(ctx)),
            Rule::Semver(s) => out.push(s.check(ctx)),
            Rule::RequireDigest => out.push(image::require_digest(ctx)),
            Rule::MutableTags(tags) => out.push(image::mutable_tags(tags, ctx)),
            Rule::SourceProviders(p) => out.push(source::providers(p, ctx)),
            Rule::SourceRepositories(p) => out.push(source::repositories(p, ctx)),
            Rule::SourceRefs(p) => out.push(source::refs(p, ctx)),
            Rule::TestedArtifact(t) => t.check(ctx, out),
            Rule::NoDowngrade => out.push(history::no_downgrade(ctx)),
            Rule::Promotion(p) => out.push(p.check(ctx)),
            Rule::Windows(w) => w.check(ctx, out),
            Rule::RateLimit(r) => out.push(r.check(ctx)),
        }
    }
}

/// A short commit id for traces.
fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// Minutes as a duration, saturating far beyond any real setting.
fn minutes(n: u64) -> jiff::SignedDuration {
    jiff::SignedDuration::from_mins(i64::try_from(n).unwrap_or(i64::MAX / 60))
}

/// `at + duration`, or the far future when that overflows.
fn after(at: Timestamp, duration: jiff::SignedDuration) -> Timestamp {
    at.checked_add(duration).unwrap_or(Timestamp::MAX)
}

#[cfg(test)]
pub(crate) mod testing;
