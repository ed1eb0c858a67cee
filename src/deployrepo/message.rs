//! Commit messages, trailers and pull-request bodies, built from the change
//! set (never re-derived from the files). Pure.

use std::collections::BTreeSet;

use super::edit::ImageChange;
use super::image::{TargetImage, short_digest};
use super::request::{DeployRequest, WriteKey};

/// Trailer naming the event a commit carries: the idempotency key.
pub const TRAILER_EVENT: &str = "Slipway-Event";
/// Trailer naming the app.
pub const TRAILER_APP: &str = "Slipway-App";
/// Trailer naming the environment.
pub const TRAILER_ENVIRONMENT: &str = "Slipway-Environment";
/// Trailer naming the image reference written.
pub const TRAILER_IMAGE: &str = "Slipway-Image";
/// Trailer naming the image digest (`none` when the event had none).
pub const TRAILER_DIGEST: &str = "Slipway-Digest";
/// Trailer holding the policy verdict summary.
pub const TRAILER_VERDICT: &str = "Slipway-Verdict";

/// Longest verdict summary written into a trailer.
const MAX_VERDICT_LEN: usize = 200;
/// Longest trace kept in a commit body.
const MAX_TRACE_LINES: usize = 40;

/// One request that made it into a commit, with its changes.
#[derive(Debug, Clone)]
pub struct CommittedRequest<'a> {
    /// The request.
    pub request: &'a DeployRequest,
    /// Its validated image.
    pub image: &'a TargetImage,
    /// Fields it changed.
    pub changes: Vec<ImageChange>,
}

/// `deploy(web/prod): 1.4.2 (sha256:ab12cd34)`.
pub fn subject(app: &str, environment: &str, image: &TargetImage) -> String {
    let mut out = format!("deploy({app}/{environment}): {}", image.short_label());
    if let (Some(_), Some(digest)) = (image.tag(), image.digest()) {
        out.push_str(&format!(" ({})", short_digest(digest)));
    }
    out
}

/// Where the status API shows a delivery: `{status_url}/api/v1/deliveries/{id}`,
/// the id percent-encoded. An empty `status_url` leaves the path alone.
pub fn delivery_link(status_url: &str, event_id: &str) -> String {
    let id: String = form_urlencoded::byte_serialize(event_id.as_bytes()).collect();
    format!(
        "{}{}/{id}",
        status_url.trim_end_matches('/'),
        crate::server::DELIVERIES_PATH
    )
}

/// The full message of a commit holding one or more requests; each
/// request's status (trace included) is linked under `status_url`.
///
/// One request: its subject, the fields it changed, the policy trace and the
/// link. Several (a batch): the title counts changes and apps, and the body
/// has one line per deploy with its verdict and link. The trailer blocks
/// follow, one per request, in order.
pub fn commit_message(committed: &[CommittedRequest<'_>], status_url: &str) -> String {
    let mut out = String::new();
    let link = |c: &CommittedRequest<'_>| delivery_link(status_url, &c.request.event_id);
    match committed {
        [one] => {
            out.push_str(&subject(
                &one.request.app,
                &one.request.environment,
                one.image,
            ));
            out.push_str("\n\n");
            for change in &one.changes {
                out.push_str(&format!(
                    "  {} {} {}: {} -> {}\n",
                    change.file,
                    change.object(),
                    change.field,
                    change.old_image,
                    change.new_image
                ));
            }
            if !one.request.trace.trim().is_empty() {
                out.push_str("\nPolicy:\n");
                for line in one.request.trace.lines().take(MAX_TRACE_LINES) {
                    out.push_str(&format!("  {}\n", one_line(line, usize::MAX)));
                }
            }
            out.push_str(&format!("\nStatus: {}\n", link(one)));
        }
        many => {
            let apps: BTreeSet<&str> = many.iter().map(|c| c.request.app.as_str()).collect();
            out.push_str(&format!(
                "deploy: {} changes to {} apps\n\n",
                many.len(),
                apps.len()
            ));
            for c in many {
                out.push_str(&format!(
                    "{} · {} · {}\n",
                    subject(&c.request.app, &c.request.environment, c.image),
                    one_line(&c.request.verdict, MAX_VERDICT_LEN),
                    link(c)
                ));
            }
        }
    }
    out.push('\n');
    for c in committed {
        out.push_str(&trailers(c.request, c.image));
    }
    out
}

/// The trailer block of one request.
pub fn trailers(request: &DeployRequest, image: &TargetImage) -> String {
    format!(
        "{TRAILER_EVENT}: {}\n{TRAILER_APP}: {}\n{TRAILER_ENVIRONMENT}: {}\n{TRAILER_IMAGE}: {}\n{TRAILER_DIGEST}: {}\n{TRAILER_VERDICT}: {}\n",
        request.event_id,
        request.app,
        request.environment,
        image.reference(),
        image.digest().unwrap_or("none"),
        one_line(&request.verdict, MAX_VERDICT_LEN),
    )
}

/// The writes a commit message records: each trailer block's
/// `Slipway-Event`, `Slipway-App` and `Slipway-Environment`, in order. A
/// block that lacks one of the three is not a write.
pub fn written_keys(message: &str) -> Vec<WriteKey> {
    let value = |line: &str, name: &str| {
        let value = line.strip_prefix(name)?.strip_prefix(':')?.trim();
        Some(value.to_string()).filter(|v| !v.is_empty())
    };
    let mut keys = Vec::new();
    let mut block: Option<(String, Option<String>, Option<String>)> = None;
    let mut flush = |block: &mut Option<(String, Option<String>, Option<String>)>| {
        if let Some((event_id, Some(app), Some(environment))) = block.take() {
            keys.push(WriteKey {
                event_id,
                app,
                environment,
            });
        }
    };
    for line in message.lines() {
        if let Some(event) = value(line, TRAILER_EVENT) {
            flush(&mut block);
            block = Some((event, None, None));
        } else if let Some((_, app, environment)) = block.as_mut() {
            if let Some(v) = value(line, TRAILER_APP) {
                *app = Some(v);
            } else if let Some(v) = value(line, TRAILER_ENVIRONMENT) {
                *environment = Some(v);
            }
        }
    }
    flush(&mut block);
    keys
}

/// Control characters become spaces; long text is cut at a character boundary.
fn one_line(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let flat = flat.trim();
    match flat.char_indices().nth(max) {
        Some((cut, _)) => format!("{}...", &flat[..cut]),
        None => flat.to_string(),
    }
}

/// Markdown body of a pull/merge request for one request.
pub fn pull_request_body(
    request: &DeployRequest,
    image: &TargetImage,
    changes: &[ImageChange],
) -> String {
    let mut out = format!(
        "Slipway proposes deploying `{}` to **{}** of **{}**.\n\n### Changes\n\n| file | object | field | from | to |\n|---|---|---|---|---|\n",
        image.reference(),
        request.environment,
        request.app
    );
    for c in changes {
        out.push_str(&format!(
            "| `{}` | {} | `{}` | `{}` | `{}` |\n",
            c.file,
            c.object(),
            c.field,
            c.old_image,
            c.new_image
        ));
    }
    out.push_str(&format!(
        "\n### Policy\n\n**Verdict:** {}\n\n```\n",
        one_line(&request.verdict, MAX_VERDICT_LEN)
    ));
    out.push_str(&request.trace.replace("```", "'''"));
    out.push_str("\n```\n\n### Source\n\n");
    let source = &request.source;
    let links = [
        ("Repository", source.repository.as_deref()),
        ("Commit", source.commit.as_deref()),
        ("Ref", source.git_ref.as_deref()),
        ("Link", source.url.as_deref()),
    ];
    let mut any = false;
    for (label, value) in links {
        if let Some(value) = value {
            out.push_str(&format!("- {label}: {}\n", one_line(value, usize::MAX)));
            any = true;
        }
    }
    if !any {
        out.push_str("- not reported\n");
    }
    out.push_str(&format!(
        "\n<!-- {TRAILER_EVENT}: {} -->\n",
        request.event_id
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ImageRef;
    use crate::repoconfig::WriteMode;

    const DIGEST: &str = "sha256:ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12";

    fn request(event: &str, app: &str, tag: &str) -> (DeployRequest, TargetImage) {
        let image = ImageRef {
            repository: format!("ghcr.io/acme/{app}"),
            tag: Some(tag.into()),
            digest: Some(DIGEST.into()),
        };
        let target = TargetImage::new(&image).unwrap();
        let request = DeployRequest {
            event_id: event.into(),
            app: app.into(),
            environment: "prod".into(),
            image,
            mode: WriteMode::Commit,
            verdict: "allow: tests passed\nsigned".into(),
            trace: "rule tests-passed: ok".into(),
            source: Default::default(),
            rollback: false,
        };
        (request, target)
    }

    #[test]
    fn one_request_makes_a_conventional_subject_and_trailers() {
        let (req, image) = request("evt-1", "web", "1.4.2");
        let message = commit_message(
            &[CommittedRequest {
                request: &req,
                image: &image,
                changes: vec![],
            }],
            "https://slipway.example.com/",
        );
        assert!(
            message.starts_with("deploy(web/prod): 1.4.2 (sha256:ab12cd34)\n\n"),
            "{message}"
        );
        for line in [
            "Slipway-Event: evt-1",
            "Slipway-App: web",
            "Slipway-Environment: prod",
            &format!("Slipway-Image: ghcr.io/acme/web:1.4.2@{DIGEST}"),
            &format!("Slipway-Digest: {DIGEST}"),
            "Slipway-Verdict: allow: tests passed signed",
        ] {
            assert!(
                message.lines().any(|l| l == line),
                "missing {line:?} in {message}"
            );
        }
        assert!(
            message.contains("\nStatus: https://slipway.example.com/api/v1/deliveries/evt-1\n"),
            "{message}"
        );
        assert_eq!(written_keys(&message), [req.key()]);
    }

    #[test]
    fn a_coalesced_commit_names_every_event() {
        let (a, ia) = request("evt-a", "web", "1");
        let (b, ib) = request("evt-b", "api", "2");
        let message = commit_message(
            &[
                CommittedRequest {
                    request: &a,
                    image: &ia,
                    changes: vec![],
                },
                CommittedRequest {
                    request: &b,
                    image: &ib,
                    changes: vec![],
                },
            ],
            "",
        );
        assert!(message.starts_with("deploy: 2 changes to 2 apps\n\n"));
        for line in [
            "deploy(web/prod): 1 (sha256:ab12cd34) · allow: tests passed signed · /api/v1/deliveries/evt-a",
            "deploy(api/prod): 2 (sha256:ab12cd34) · allow: tests passed signed · /api/v1/deliveries/evt-b",
        ] {
            assert!(
                message.lines().any(|l| l == line),
                "missing {line:?} in {message}"
            );
        }
        assert_eq!(written_keys(&message), [a.key(), b.key()]);
    }

    #[test]
    fn one_event_for_two_apps_records_two_writes() {
        let (web, iw) = request("evt-1", "web", "1.5.0");
        let (worker, ik) = request("evt-1", "worker", "1.5.0");
        let message = commit_message(
            &[
                CommittedRequest {
                    request: &web,
                    image: &iw,
                    changes: vec![],
                },
                CommittedRequest {
                    request: &worker,
                    image: &ik,
                    changes: vec![],
                },
            ],
            "",
        );
        assert_eq!(written_keys(&message), [web.key(), worker.key()]);
        let partial = "x\n\nSlipway-Event: e\nSlipway-App: web\n";
        assert!(
            written_keys(partial).is_empty(),
            "a block without environment"
        );
    }

    #[test]
    fn delivery_links_encode_the_id_under_the_status_url() {
        let cases = [
            ("no status url", "", "evt-1", "/api/v1/deliveries/evt-1"),
            (
                "a trailing slash",
                "https://slipway.example.com/",
                "evt-1",
                "https://slipway.example.com/api/v1/deliveries/evt-1",
            ),
            (
                "reserved characters",
                "http://127.0.0.1:8080",
                "a/b?c#d",
                "http://127.0.0.1:8080/api/v1/deliveries/a%2Fb%3Fc%23d",
            ),
        ];
        for (name, base, id, want) in cases {
            assert_eq!(delivery_link(base, id), want, "{name}");
        }
    }

    #[test]
    fn subjects_use_the_tag_or_the_short_digest() {
        let cases = [
            ("tag only", Some("1.0"), None, "deploy(web/dev): 1.0"),
            (
                "digest only",
                None,
                Some(DIGEST),
                "deploy(web/dev): sha256:ab12cd34",
            ),
            (
                "both",
                Some("1.0"),
                Some(DIGEST),
                "deploy(web/dev): 1.0 (sha256:ab12cd34)",
            ),
        ];
        for (name, tag, digest, want) in cases {
            let image = TargetImage::new(&ImageRef {
                repository: "ghcr.io/acme/web".into(),
                tag: tag.map(String::from),
                digest: digest.map(String::from),
            })
            .unwrap();
            assert_eq!(subject("web", "dev", &image), want, "{name}");
        }
    }

    #[test]
    fn pull_request_bodies_hold_changes_trace_and_sources() {
        let (mut req, image) = request("evt-1", "web", "1.4.2");
        req.source.url = Some("https://ci.example/run/7".into());
        let change = ImageChange {
            file: "envs/prod/web/deployment.yaml".into(),
            document: 0,
            kind: "Deployment".into(),
            name: "web".into(),
            field: "spec.template.spec.containers[0].image".into(),
            old_image: "ghcr.io/acme/web:1.4.1".into(),
            new_image: "ghcr.io/acme/web:1.4.2".into(),
        };
        let body = pull_request_body(&req, &image, &[change]);
        for needle in [
            "envs/prod/web/deployment.yaml",
            "rule tests-passed: ok",
            "https://ci.example/run/7",
            "ghcr.io/acme/web:1.4.1",
        ] {
            assert!(body.contains(needle), "{needle} missing from {body}");
        }
    }
}
