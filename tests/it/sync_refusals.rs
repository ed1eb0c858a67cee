//! A revision the API server would refuse is checked by dry run before its
//! first write: nothing of it is applied, the live revision stays, and the
//! status, the Event and the report say in one line which file, object and
//! field. An immutable field is re-created only when the object or the
//! environment opts in.

use crate::support;
use crate::sync_common;

use serde_json::Value;
use slipway::store::sync_state::SyncPhase;
use slipway::sync::fault::MAX_LINE_CHARS;
use support::kube_api::{KubeApiServer, Verb};
use sync_common::{DeployRepo, Harness, ReportInbox, config_map};

fn slipway_yaml(recreate: bool) -> String {
    format!(
        "
apps:
  web:
    image: ghcr.io/acme/web
    environments:
      - {{ name: dev, path: envs/dev, namespace: web-dev, rollout_timeout_seconds: 10, recreate_on_immutable: {recreate} }}
"
    )
}

fn web(replicas: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{ name: web }}
spec:
  replicas: {replicas}
  selector: {{ matchLabels: {{ app: web }} }}
  template:
    metadata: {{ labels: {{ app: web }} }}
    spec: {{ containers: [{{ name: web, image: 'ghcr.io/acme/web:1.0.0' }}] }}
"
    )
}

fn service(port: u16) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{ name: web }}\nspec:\n  selector: {{ app: web }}\n  ports: [{{ port: {port} }}]\n"
    )
}

fn migrate(image: &str, annotated: bool) -> String {
    let annotations = if annotated {
        "\n  annotations: { slipway.dev/recreate: \"true\" }"
    } else {
        ""
    };
    format!(
        "apiVersion: batch/v1
kind: Job
metadata:
  name: migrate{annotations}
spec:
  template:
    metadata: {{ labels: {{ app: migrate }} }}
    spec:
      restartPolicy: Never
      containers: [{{ name: migrate, image: '{image}' }}]
"
    )
}

async fn started(repo: &DeployRepo) -> (KubeApiServer, Harness, ReportInbox) {
    let server = KubeApiServer::start().await.unwrap();
    let (h, inbox) = Harness::reporting(repo, server.client().unwrap()).await;
    (server, h, inbox)
}

/// A line a person reads: bounded, naming the file and the object, with
/// no dump of a Go value or a Rust `Debug`.
fn assert_readable(line: &str, file: &str, object: &str) {
    assert!(
        line.chars().count() <= MAX_LINE_CHARS,
        "{} chars: {line}",
        line.len()
    );
    assert!(line.contains(file) && line.contains(object), "{line}");
    for dump in [
        "Status {",
        "ApiError",
        "ErrorResponse",
        "PodTemplateSpec{O",
        "\n",
    ] {
        assert!(!line.contains(dump), "{dump:?} in {line}");
    }
}

fn warning_events(server: &KubeApiServer, reason: &str, name: &str) -> Vec<Value> {
    server
        .list_objects("events.k8s.io/v1", "Event", Some("web-dev"))
        .into_iter()
        .filter(|e| {
            e["reason"] == reason && e["type"] == "Warning" && e["regarding"]["name"] == name
        })
        .collect()
}

#[tokio::test]
async fn a_revision_the_server_refuses_is_not_applied_at_all() {
    // The Deployment comes between the ConfigMap and the Service in file
    // order; its value is one the server refuses (422, or 500 on a patch it
    // cannot type).
    let with_spec = |line: &str| web("2").replace("  selector:", &format!("  {line}\n  selector:"));
    let cases = [
        (
            "negative replicas",
            web("-1"),
            "spec.replicas: Invalid value: -1",
        ),
        (
            "replicas as text",
            web("two"),
            "failed to create typed patch object",
        ),
        (
            "a surge that is not a percentage",
            with_spec("strategy: { rollingUpdate: { maxSurge: '1' } }"),
            "spec.strategy.rollingUpdate.maxSurge: Invalid value: \"1\": a valid percent string",
        ),
        (
            "a probe port of digits in quotes",
            web("2").replace(
                "image: 'ghcr.io/acme/web:1.0.0' }",
                "image: 'ghcr.io/acme/web:1.0.0', readinessProbe: { httpGet: { port: '8080' } } }",
            ),
            "spec.template.spec.containers[0].readinessProbe.httpGet.port: Invalid value: \"8080\": must contain at least one letter (a-z)",
        ),
    ];
    for (name, refused_web, needle) in cases {
        let repo = DeployRepo::new(&[
            ("slipway.yaml", &slipway_yaml(false)),
            ("envs/dev/a-config.yaml", &config_map("settings", "v1")),
            ("envs/dev/b-web.yaml", &web("2")),
            ("envs/dev/c-svc.yaml", &service(80)),
        ]);
        let verified = repo.head();
        let (server, h, inbox) = started(&repo).await;
        h.sync.sync_once().await.unwrap();
        assert_eq!(h.status().await.state, SyncPhase::Verified, "{name}");
        let config_version = server
            .get_object("v1", "ConfigMap", Some("web-dev"), "settings")
            .unwrap()["metadata"]["resourceVersion"]
            .clone();

        let refused = repo.commit(
            &[
                ("envs/dev/a-config.yaml", &config_map("settings", "v2")),
                ("envs/dev/b-web.yaml", &refused_web),
                ("envs/dev/c-svc.yaml", &service(8080)),
            ],
            "v2",
        );
        server.reset_stats();
        h.sync.sync_once().await.unwrap();
        assert_eq!(
            server.stats().verb(Verb::Apply),
            0,
            "{name}: nothing written"
        );
        let live = server
            .get_object("v1", "ConfigMap", Some("web-dev"), "settings")
            .unwrap();
        assert_eq!(live["data"]["key"], "v1", "{name}");
        assert_eq!(
            live["metadata"]["resourceVersion"], config_version,
            "{name}"
        );
        let svc = server
            .get_object("v1", "Service", Some("web-dev"), "web")
            .unwrap();
        assert_eq!(svc["spec"]["ports"][0]["port"], 80, "{name}");

        let s = h.status().await;
        assert_eq!(s.state, SyncPhase::Rejected, "{name}: {:?}", s.last_error);
        assert_eq!(
            s.applied_revision.as_deref(),
            Some(verified.as_str()),
            "{name}"
        );
        assert_eq!(
            s.verified_revision.as_deref(),
            Some(verified.as_str()),
            "{name}"
        );
        assert_eq!(
            s.failed_revision.as_deref(),
            Some(refused.as_str()),
            "{name}"
        );
        let line = s.last_error.clone().unwrap();
        assert_readable(&line, "envs/dev/b-web.yaml", "Deployment web-dev/web");
        assert!(line.contains(needle), "{name}: {line}");
        assert_eq!(inbox.verdicts(), ["verified", "failed"], "{name}");
        assert_readable(
            inbox.last()["reason"].as_str().unwrap(),
            "b-web.yaml",
            "web-dev/web",
        );
        let events = warning_events(&server, "ApplyRejected", "web");
        assert_eq!(events.len(), 1, "{name}: a Warning Event on the object");
        assert!(
            events[0]["note"].as_str().unwrap().contains(needle),
            "{name}"
        );

        server.reset_stats();
        repo.commit(&[("README.md", "unrelated\n")], "docs");
        h.sync.sync_once().await.unwrap();
        let stats = server.stats();
        assert_eq!(
            (stats.verb(Verb::Apply), stats.verb(Verb::DryRun)),
            (0, 0),
            "{name}: final for that content, not tried every pass"
        );
        assert_eq!(h.status().await.state, SyncPhase::Rejected, "{name}");
    }
}

#[tokio::test]
async fn an_immutable_field_change_is_refused_in_one_line_unless_recreate_is_opted_into() {
    // name, annotation on the Job, recreate_on_immutable on the environment
    let cases = [
        ("no opt-in", false, false),
        ("annotated", true, false),
        ("environment setting", false, true),
    ];
    for (name, annotated, setting) in cases {
        let repo = DeployRepo::new(&[
            ("slipway.yaml", &slipway_yaml(setting)),
            (
                "envs/dev/migrate.yaml",
                &migrate("ghcr.io/acme/migrate:1", annotated),
            ),
        ]);
        let (server, h, _inbox) = started(&repo).await;
        h.sync.sync_once().await.unwrap();
        assert_eq!(h.status().await.state, SyncPhase::Verified, "{name}");
        let first_uid = server
            .get_object("batch/v1", "Job", Some("web-dev"), "migrate")
            .unwrap()["metadata"]["uid"]
            .clone();

        repo.commit(
            &[(
                "envs/dev/migrate.yaml",
                &migrate("ghcr.io/acme/migrate:2", annotated),
            )],
            "migrate 2",
        );
        h.sync.sync_once().await.unwrap();
        let s = h.status().await;
        let live = server
            .get_object("batch/v1", "Job", Some("web-dev"), "migrate")
            .unwrap();
        let image = live
            .pointer("/spec/template/spec/containers/0/image")
            .unwrap();
        if annotated || setting {
            assert_eq!(s.state, SyncPhase::Verified, "{name}: {:?}", s.last_error);
            assert_eq!(image, "ghcr.io/acme/migrate:2", "{name}: re-created");
            assert_ne!(live["metadata"]["uid"], first_uid, "{name}: a new object");
            assert_eq!(
                warning_events(&server, "Recreated", "migrate").len(),
                1,
                "{name}"
            );
        } else {
            assert_eq!(s.state, SyncPhase::Rejected, "{name}");
            assert_eq!(image, "ghcr.io/acme/migrate:1", "{name}: nothing deleted");
            assert_eq!(live["metadata"]["uid"], first_uid, "{name}");
            let line = s.last_error.unwrap();
            assert_readable(&line, "envs/dev/migrate.yaml", "Job web-dev/migrate");
            assert!(
                line.contains("spec.template is immutable")
                    && line.contains("slipway.dev/recreate"),
                "{name}: {line}"
            );
            assert_eq!(
                warning_events(&server, "ApplyRejected", "migrate").len(),
                1,
                "{name}"
            );
        }
    }
}
