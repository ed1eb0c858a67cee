//! Real-world inputs, each reduced from a public bug report against a tool
//! that does Slipway's job (`tests/fixtures/cases/*/case.md` names the
//! source). Every case runs through the whole receive side: signed requests
//! into the router, the inbox, the worker, the policy gate and the writer,
//! against a real bare deploy repository, and its files must come out byte
//! for byte as `case.json`'s `expect` says. Named tests then check what each
//! case is about: the status code, the recorded reason, the verdict.

use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode};
use serde_json::Value;
use slipway::bootstrap::create_bare_repo;
use slipway::store::Store;
use slipway::store::inbox::StoredDelivery;
use slipway::worker::Worker;
use support::git_repos::{commit_count, remote_file};
use support::webhooks::{
    InProcessReceive, dockerhub, generic, github, gitlab, harbor, test_config,
};
use tower::ServiceExt;

/// The policy a case runs under when it names none (its README says so).
const DEFAULT_POLICY: &str =
    "apps: [\"*\"]\nenvironments: [\"*\"]\nimage:\n  mutable_tags: [latest]\nno_downgrade: true\n";

fn case_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cases")
        .join(name)
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("read {file}: {e}"))
}

/// One app of a case: its image, the path of its `dev` environment, and the
/// files under that path (name there -> file in the case folder).
struct CaseApp {
    image: String,
    path: String,
    files: BTreeMap<String, String>,
}

/// A case as `case.json` describes it.
struct Case {
    dir: PathBuf,
    apps: BTreeMap<String, CaseApp>,
    policy: String,
    events: Vec<Value>,
    /// Path in the repo -> expected bytes.
    expect: BTreeMap<String, String>,
}

fn strings(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}

impl Case {
    fn load(name: &str) -> Case {
        let dir = case_dir(name);
        let spec: Value = serde_json::from_str(&read(&dir, "case.json")).unwrap();
        let mut apps = BTreeMap::new();
        let single = spec.get("apps").is_none();
        if single {
            let app = spec["app"].as_str().unwrap().to_string();
            apps.insert(
                app.clone(),
                CaseApp {
                    image: spec["image"].as_str().unwrap().to_string(),
                    path: format!("envs/{app}/dev"),
                    files: strings(&spec["files"]),
                },
            );
        } else {
            for (app, body) in spec["apps"].as_object().unwrap() {
                apps.insert(
                    app.clone(),
                    CaseApp {
                        image: body["image"].as_str().unwrap().to_string(),
                        path: body["path"].as_str().unwrap().to_string(),
                        files: strings(&body["files"]),
                    },
                );
            }
        }
        // A single app's `expect` paths are relative to its environment.
        let prefix = match single {
            true => format!("{}/", apps.values().next().unwrap().path),
            false => String::new(),
        };
        let expect = strings(&spec["expect"])
            .into_iter()
            .map(|(path, file)| (format!("{prefix}{path}"), read(&dir, &file)))
            .collect();
        let policy = match spec.get("policy").and_then(Value::as_str) {
            Some(file) => read(&dir, file),
            None => DEFAULT_POLICY.to_string(),
        };
        Case {
            events: spec["events"].as_array().unwrap().clone(),
            dir,
            apps,
            policy,
            expect,
        }
    }

    /// The deploy repo's files: `slipway.yaml`, the policy and every manifest.
    fn repo_files(&self) -> Vec<(String, String)> {
        let mut yaml = String::from("apps:\n");
        let mut files = Vec::new();
        for (name, app) in &self.apps {
            yaml.push_str(&format!(
                "  {name}:\n    image: {}\n    environments:\n      - {{ name: dev, path: {} }}\n",
                app.image, app.path
            ));
            for (path, file) in &app.files {
                files.push((format!("{}/{path}", app.path), read(&self.dir, file)));
            }
        }
        files.push(("slipway.yaml".into(), yaml));
        files.push(("policies/case.yaml".into(), self.policy.clone()));
        files
    }
}

struct Receive {
    app: Router,
    worker: Worker,
    store: Store,
    bare: PathBuf,
    _dir: tempfile::TempDir,
}

impl Receive {
    async fn start(files: &[(String, String)]) -> Receive {
        let dir = tempfile::tempdir().unwrap();
        let bare = dir.path().join("deploy.git");
        let borrowed: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_str()))
            .collect();
        create_bare_repo(&bare, "main", &borrowed).unwrap();
        let receive = InProcessReceive::start(test_config(dir.path()), &bare, None);
        Receive {
            app: receive.app,
            worker: receive.worker,
            store: receive.store,
            bare,
            _dir: dir,
        }
    }

    /// Send one request and let the worker settle everything that is due.
    async fn send(&self, request: Request<Body>) -> (StatusCode, Value) {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        for _ in 0..20 {
            if self.worker.run_once().await.unwrap() == 0 {
                break;
            }
        }
        (status, body)
    }

    async fn delivery(&self, id: &str) -> StoredDelivery {
        self.store
            .delivery(id.into())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("delivery {id} not stored"))
    }
}

/// The request for event `index` of a case, signed as its provider signs.
fn request(case: &Case, name: &str, index: usize, event: &Value) -> Request<Body> {
    let body = std::fs::read(case.dir.join(event["body"].as_str().unwrap())).unwrap();
    let delivery = format!("{name}-{index}");
    let header = event["event"].as_str().unwrap_or_default();
    match event["provider"].as_str().unwrap() {
        "generic" => generic(&delivery, body),
        "github" => github(header, &delivery, body),
        "gitlab" => gitlab(header, &delivery, body),
        "harbor" => harbor(body),
        "dockerhub" => dockerhub(body),
        other => panic!("case {name}: no provider {other}"),
    }
}

/// Run a case: every delivery answered without a 5xx, then every expected
/// file byte for byte. Returns the receive side and each answer.
async fn run_case(name: &str) -> (Receive, Vec<(StatusCode, Value)>) {
    let case = Case::load(name);
    let receive = Receive::start(&case.repo_files()).await;
    let mut answers = Vec::new();
    for (index, event) in case.events.iter().enumerate() {
        let answer = receive.send(request(&case, name, index, event)).await;
        assert!(
            matches!(answer.0.as_u16(), 200 | 202 | 400),
            "{name} event {index}: {answer:?}"
        );
        answers.push(answer);
    }
    for (path, want) in &case.expect {
        let got = remote_file(&receive.bare, "main", path);
        assert_eq!(got, *want, "{name}: {path} byte for byte");
    }
    (receive, answers)
}

#[tokio::test]
async fn every_case_ends_with_its_expected_files() {
    let mut names: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cases"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("case.json").exists())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
    names.sort();
    assert!(names.len() >= 7, "cases found: {names:?}");
    for name in names {
        run_case(&name).await;
    }
}

#[tokio::test]
async fn a_registry_with_a_port_is_an_image_repository() {
    let (receive, answers) = run_case("registry-port").await;
    assert_eq!(answers[0].0, StatusCode::ACCEPTED);
    assert_eq!(commit_count(&receive.bare, "main"), 2, "one deploy commit");
    // The smallest input: slipway.yaml naming `localhost:5000/web` passes `policy check`.
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(
        repo.path().join("slipway.yaml"),
        "apps:\n  web:\n    image: localhost:5000/web\n    environments:\n      - { name: dev, path: envs/dev }\n",
    )
    .unwrap();
    std::fs::create_dir_all(repo.path().join("policies")).unwrap();
    std::fs::write(repo.path().join("policies/default.yaml"), DEFAULT_POLICY).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(["policy", "check", "--repo"])
        .arg(repo.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("ok") && l.contains("slipway.yaml")),
        "{stdout}"
    );
}

#[tokio::test]
async fn untagged_platform_manifests_of_a_multi_arch_push_are_ignored_with_a_reason() {
    let (receive, answers) = run_case("ghcr-multiarch-untagged").await;
    assert!(
        answers
            .iter()
            .all(|(status, _)| *status == StatusCode::ACCEPTED)
    );
    for id in ["ghcr-multiarch-untagged-0", "ghcr-multiarch-untagged-2"] {
        let delivery = receive.delivery(id).await;
        let event = serde_json::to_value(&delivery.event).unwrap();
        assert_eq!(event["kind"], "ignored", "{id}");
        assert!(
            event["reason"]
                .as_str()
                .unwrap()
                .contains("untagged manifest"),
            "{id}: {event}"
        );
    }
    assert_eq!(
        commit_count(&receive.bare, "main"),
        2,
        "only the tagged index"
    );
}

#[tokio::test]
async fn each_resource_of_a_harbor_push_is_considered() {
    let (receive, answers) = run_case("harbor-multi-resource").await;
    assert_eq!(answers[0].0, StatusCode::ACCEPTED);
    let id = answers[0].1["delivery_id"].as_str().unwrap().to_string();
    let delivery = receive.delivery(&id).await;
    let summary = delivery.outcome.unwrap()["summary"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(summary.contains("web/dev: committed"), "{summary}");
    assert!(
        summary.contains("denied") && summary.contains("latest"),
        "latest is refused with its reason: {summary}"
    );
}

#[tokio::test]
async fn a_harbor_push_on_a_port_deploys_too() {
    let case = Case::load("harbor-multi-resource");
    let on_port = |text: &str| text.replace("harbor.example.com/", "harbor.example.com:8443/");
    let mut files = case.repo_files();
    for (_, content) in &mut files {
        *content = on_port(content);
    }
    let receive = Receive::start(&files).await;
    let body = std::fs::read(case.dir.join("push-port.json")).unwrap();
    let (status, _) = receive.send(harbor(body)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    for (path, want) in &case.expect {
        assert_eq!(
            remote_file(&receive.bare, "main", path),
            on_port(want),
            "{path}"
        );
    }
}

#[tokio::test]
async fn an_empty_docker_hub_tag_is_refused_like_a_missing_one() {
    let (receive, answers) = run_case("dockerhub-no-tag").await;
    for (status, body) in &answers[..2] {
        assert_eq!(*status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body["error"].as_str().unwrap().contains("push_data.tag"),
            "the error names the field: {body}"
        );
    }
    assert_eq!(answers[2].0, StatusCode::ACCEPTED);
    assert_eq!(commit_count(&receive.bare, "main"), 2, "one deploy commit");
}

#[tokio::test]
async fn a_late_older_ci_result_never_overrides_a_newer_one() {
    let (receive, answers) = run_case("pipeline-result-out-of-order").await;
    assert!(
        answers
            .iter()
            .all(|(status, _)| *status == StatusCode::ACCEPTED)
    );
    let delivery = receive.delivery("pipeline-result-out-of-order-2").await;
    let summary = delivery.outcome.unwrap()["summary"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(summary.contains("denied"), "{summary}");
    assert!(
        summary.contains("Failure") || summary.contains("failure"),
        "{summary}"
    );
    assert_eq!(commit_count(&receive.bare, "main"), 1, "no deploy commit");
}

#[tokio::test]
async fn two_part_versions_order_like_semver() {
    let (receive, _) = run_case("two-part-version-order").await;
    let delivery = receive.delivery("two-part-version-order-1").await;
    let summary = delivery.outcome.unwrap()["summary"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        summary.contains("denied") && summary.contains("1.9.0 is older than desired 1.10.0"),
        "{summary}"
    );
}

#[tokio::test]
async fn one_event_writes_every_app_that_deploys_its_image() {
    let (receive, _) = run_case("one-image-two-apps").await;
    let delivery = receive.delivery("one-image-two-apps-0").await;
    let outcome = delivery.outcome.unwrap();
    let writes = outcome["detail"]["writes"].as_array().unwrap();
    assert_eq!(writes.len(), 2, "{outcome}");
    for (app, file) in [
        ("web", "envs/web/deployment.yaml"),
        ("worker", "envs/worker/kustomization.yaml"),
    ] {
        let write = writes
            .iter()
            .find(|w| w["app"] == app)
            .unwrap_or_else(|| panic!("no write for {app}: {outcome}"));
        let changes = write["result"]["Ok"]["changes"].as_array().unwrap();
        assert!(
            !changes.is_empty() && changes.iter().all(|c| c["file"] == file),
            "{app} names its own file: {write}"
        );
    }
}
