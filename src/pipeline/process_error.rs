//! How the pipeline's failures reach the worker: typed, with the kind of
//! their cause and, for a forge's rate limit, the time before which trying
//! again is pointless.

use crate::deployrepo::request::{FailureKind, WriteFailure};
use crate::worker::{ErrorKind, ProcessError};

use super::view::ViewError;

/// The policy view could not be loaded: an invalid `slipway.yaml` or policy
/// waits for a change to the repository; anything else is retried.
pub(super) fn view(e: &ViewError) -> ProcessError {
    match e {
        ViewError::Policy(_) => ProcessError::Stall {
            kind: ErrorKind::Policy,
            message: crate::error_chain(e),
        },
        _ => ProcessError::retry(ErrorKind::PolicyView, e),
    }
}

/// The writer's failure for `target` (`app/env`).
pub(super) fn write(target: &str, failure: &WriteFailure) -> ProcessError {
    let kind = match failure.kind {
        FailureKind::Git => ErrorKind::Git,
        FailureKind::Forge => ErrorKind::Forge,
        FailureKind::ForgeRateLimit => ErrorKind::ForgeRateLimit,
        FailureKind::Content => ErrorKind::DeployContent,
    };
    let message = format!("{target}: {}", failure.message);
    if failure.is_retryable() {
        ProcessError::Retry {
            kind,
            message,
            not_before: failure.retry_at,
        }
    } else {
        ProcessError::Stall { kind, message }
    }
}

/// The failure of a delivery whose targets failed `first` and then `next`.
/// A retry wins over a stall (the delivery runs again; written targets are
/// not written twice); two retries wait for the later `not_before` and keep
/// the kind that named it.
pub(super) fn merge(first: Option<ProcessError>, next: ProcessError) -> ProcessError {
    match (first, next) {
        (None, next) => next,
        (
            Some(ProcessError::Retry {
                kind: k1,
                message: m1,
                not_before: t1,
            }),
            ProcessError::Retry {
                kind: k2,
                message: m2,
                not_before: t2,
            },
        ) => ProcessError::Retry {
            kind: if t2 > t1 { k2 } else { k1 },
            message: format!("{m1}; {m2}"),
            not_before: t1.max(t2),
        },
        (Some(first), ProcessError::Stall { .. }) => first,
        (Some(_), next) => next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deployrepo::request::Disposition;

    fn at(text: &str) -> Option<jiff::Timestamp> {
        Some(text.parse().unwrap())
    }

    fn failure(disposition: Disposition, kind: FailureKind, retry_at: &str) -> WriteFailure {
        WriteFailure {
            disposition,
            kind,
            message: "failed".into(),
            retry_at: (!retry_at.is_empty()).then(|| retry_at.parse().unwrap()),
        }
    }

    #[test]
    fn write_failures_keep_their_kind_and_reset() {
        let limited = failure(
            Disposition::Retry,
            FailureKind::ForgeRateLimit,
            "2026-06-10T13:00:00Z",
        );
        match write("web/prod", &limited) {
            ProcessError::Retry {
                kind,
                message,
                not_before,
            } => {
                assert_eq!(kind, ErrorKind::ForgeRateLimit);
                assert_eq!(message, "web/prod: failed");
                assert_eq!(not_before, at("2026-06-10T13:00:00Z"));
            }
            other => panic!("{other:?}"),
        }
        let refused = failure(Disposition::Stall, FailureKind::Content, "");
        assert!(matches!(
            write("web/prod", &refused),
            ProcessError::Stall {
                kind: ErrorKind::DeployContent,
                ..
            }
        ));
    }

    #[test]
    fn merged_failures_retry_no_earlier_than_any_reset() {
        let retry = |kind, not_before: &str| ProcessError::Retry {
            kind,
            message: kind.as_str().into(),
            not_before: (!not_before.is_empty()).then(|| not_before.parse().unwrap()),
        };
        let stall = || ProcessError::Stall {
            kind: ErrorKind::DeployContent,
            message: "stall".into(),
        };
        let cases = [
            (
                "a rate limit then a git retry keeps the reset",
                Some(retry(ErrorKind::ForgeRateLimit, "2026-06-10T13:00:00Z")),
                retry(ErrorKind::Git, ""),
                Some((ErrorKind::ForgeRateLimit, at("2026-06-10T13:00:00Z"))),
            ),
            (
                "the later reset wins",
                Some(retry(ErrorKind::ForgeRateLimit, "2026-06-10T13:00:00Z")),
                retry(ErrorKind::ForgeRateLimit, "2026-06-10T14:00:00Z"),
                Some((ErrorKind::ForgeRateLimit, at("2026-06-10T14:00:00Z"))),
            ),
            (
                "a retry replaces a stall",
                Some(stall()),
                retry(ErrorKind::Forge, ""),
                Some((ErrorKind::Forge, None)),
            ),
            (
                "a stall does not replace a retry",
                Some(retry(ErrorKind::Git, "")),
                stall(),
                Some((ErrorKind::Git, None)),
            ),
            ("a first stall stays", Some(stall()), stall(), None),
        ];
        for (name, first, next, want) in cases {
            let got = match merge(first, next) {
                ProcessError::Retry {
                    kind, not_before, ..
                } => Some((kind, not_before)),
                _ => None,
            };
            assert_eq!(got, want, "{name}");
        }
    }
}
