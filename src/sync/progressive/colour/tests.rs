use serde_json::json;

use super::*;
use crate::sync::plan::desired;
use crate::sync::render::RenderedObject;

fn objects(manifests: Vec<Value>) -> Vec<DesiredObject> {
    let rendered = manifests
        .into_iter()
        .map(|manifest| RenderedObject {
            manifest,
            source: "envs/prod/app.yaml".into(),
        })
        .collect();
    desired("web", "prod", rendered)
}

fn deployment(name: &str, app: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "shop"},
           "spec": {"replicas": 2, "selector": {"matchLabels": {"app": app}},
                    "template": {"metadata": {"labels": {"app": app, "tier": "web"}},
                                 "spec": {"containers": [{"name": "main", "image": format!("ghcr.io/acme/{app}:1.0.0")}]}}}})
}

fn service(name: &str, selector: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "shop"},
           "spec": {"selector": selector, "ports": [{"port": 80}]}})
}

fn names(objects: &[DesiredObject]) -> Vec<&str> {
    objects.iter().map(|d| d.object.name.as_str()).collect()
}

fn shop() -> Vec<DesiredObject> {
    objects(vec![
        deployment("web", "web"),
        deployment("worker", "worker"),
        service("web", json!({"app": "web"})),
        service("web-preview", json!({"app": "web"})),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web", "namespace": "shop"}}),
    ])
}

/// Name, listed Services, preview, then the Services, workloads and others expected.
type SplitCase<'a> = (
    &'a str,
    Option<Vec<String>>,
    Option<&'a str>,
    Vec<&'a str>,
    Vec<&'a str>,
    Vec<&'a str>,
);

#[test]
fn the_split_finds_the_switched_services_and_the_workloads_they_select() {
    let cases: [SplitCase; 3] = [
        (
            "every selecting Service",
            None,
            None,
            vec!["web", "web-preview"],
            vec!["web"],
            vec!["worker", "web"],
        ),
        (
            "the listed Service",
            Some(vec!["web".into()]),
            None,
            vec!["web"],
            vec!["web"],
            vec!["worker", "web-preview", "web"],
        ),
        (
            "a preview Service",
            None,
            Some("web-preview"),
            vec!["web"],
            vec!["web"],
            vec!["worker", "web"],
        ),
    ];
    for (name, services, preview, want_services, want_workloads, want_others) in cases {
        let split = split(shop(), services.as_deref(), preview).unwrap();
        assert_eq!(names(&split.services), want_services, "{name}: services");
        assert_eq!(names(&split.workloads), want_workloads, "{name}: workloads");
        assert_eq!(names(&split.others), want_others, "{name}: others");
        assert_eq!(
            split.preview.is_some(),
            preview.is_some(),
            "{name}: preview"
        );
    }
}

#[test]
fn a_split_that_cannot_work_is_refused_with_its_reason() {
    let cases = [
        (
            "missing listed Service",
            Some(vec!["api".to_string()]),
            None,
            SplitError::MissingService("api".into()),
        ),
        (
            "missing preview",
            None,
            Some("nope"),
            SplitError::MissingService("nope".into()),
        ),
    ];
    for (name, services, preview, want) in cases {
        assert_eq!(
            split(shop(), services.as_deref(), preview).unwrap_err(),
            want,
            "{name}"
        );
    }
    let lonely = objects(vec![
        deployment("web", "web"),
        service("db", json!({"app": "db"})),
    ]);
    assert_eq!(
        split(lonely.clone(), None, None).unwrap_err(),
        SplitError::NoService
    );
    assert_eq!(
        split(lonely, Some(&["db".to_string()]), None).unwrap_err(),
        SplitError::NoWorkload("db".into())
    );
}

#[test]
fn a_colour_is_renamed_and_labelled_on_its_selector_and_pods() {
    let web = &shop()[0];
    let colour = coloured(
        web,
        "abc1234567",
        super::super::ROLE_CANDIDATE,
        Some("deploying"),
    );
    assert_eq!(colour.object.name, "web-abc1234567");
    let m = &colour.manifest;
    assert_eq!(m["metadata"]["name"], "web-abc1234567");
    assert_eq!(m["metadata"]["labels"][LABEL_REVISION], "abc1234567");
    assert_eq!(m["metadata"]["labels"][LABEL_ROLE], "candidate");
    assert_eq!(m["metadata"]["labels"][LABEL_PHASE], "deploying");
    assert_eq!(
        m["spec"]["selector"]["matchLabels"][LABEL_REVISION],
        "abc1234567"
    );
    assert_eq!(
        m["spec"]["template"]["metadata"]["labels"][LABEL_REVISION],
        "abc1234567"
    );
    assert_eq!(m["spec"]["template"]["metadata"]["labels"]["app"], "web");
    assert_ne!(colour.hash, web.hash);
    let plain = coloured(web, "", super::super::ROLE_STABLE, None);
    assert_eq!(plain.object.name, "web");
    assert!(
        plain.manifest["spec"]["selector"]["matchLabels"]
            .get(LABEL_REVISION)
            .is_none()
    );
}

#[test]
fn a_pinned_service_selects_one_colour() {
    let svc = &shop()[2];
    let pinned_svc = pinned(svc, "abc1234567");
    assert_eq!(
        pinned_svc.manifest["spec"]["selector"],
        json!({"app": "web", LABEL_REVISION: "abc1234567"})
    );
    assert_eq!(
        pinned(svc, ""),
        *svc,
        "the unlabelled colour keeps git's selector"
    );
}

#[test]
fn the_revision_hash_follows_the_pod_templates_only() {
    let base = shop();
    let split_base = split(base.clone(), None, None).unwrap();
    let mut scaled = deployment("web", "web");
    scaled["spec"]["replicas"] = json!(5);
    let mut new_image = deployment("web", "web");
    new_image["spec"]["template"]["spec"]["containers"][0]["image"] =
        json!("ghcr.io/acme/web:2.0.0");
    let of = |d: Value| revision_of(&objects(vec![d]));
    assert_eq!(revision_of(&split_base.workloads).len(), REVISION_HEX);
    assert_eq!(
        of(scaled),
        revision_of(&split_base.workloads),
        "replicas do not make a colour"
    );
    assert_ne!(
        of(new_image),
        revision_of(&split_base.workloads),
        "an image does"
    );
}

#[test]
fn the_pods_shutdown_is_the_grace_period_plus_the_pre_stop_sleep() {
    let with = |spec: Value| {
        let mut d = deployment("web", "web");
        d["spec"]["template"]["spec"] = spec;
        pod_shutdown(&objects(vec![d])[0])
    };
    let cases = [
        ("defaults", json!({"containers": [{"name": "m"}]}), 30),
        (
            "grace",
            json!({"terminationGracePeriodSeconds": 60, "containers": [{"name": "m"}]}),
            60,
        ),
        (
            "sleep action",
            json!({"terminationGracePeriodSeconds": 10, "containers": [{"name": "m", "lifecycle": {"preStop": {"sleep": {"seconds": 15}}}}]}),
            25,
        ),
        (
            "exec sleep",
            json!({"terminationGracePeriodSeconds": 10, "containers": [{"name": "m", "lifecycle": {"preStop": {"exec": {"command": ["/bin/sh", "-c", "sleep 20"]}}}}]}),
            30,
        ),
    ];
    for (name, spec, want) in cases {
        assert_eq!(with(spec), Duration::from_secs(want), "{name}");
    }
}

#[test]
fn a_canary_is_named_scaled_and_set_apart_only_when_asked() {
    let web = &shop()[0];
    let shared = canary(web, "abc1234567", 1, &BTreeSet::new(), "stepping");
    assert_eq!(shared.object.name, "web-canary");
    assert_eq!(shared.manifest["spec"]["replicas"], 1);
    assert_eq!(
        shared.manifest["spec"]["template"]["metadata"]["labels"]["app"], "web",
        "shares the Service's selector"
    );
    assert_eq!(
        shared.manifest["spec"]["selector"]["matchLabels"][LABEL_REVISION],
        "abc1234567"
    );

    let split = split(shop(), Some(&["web".to_string()]), None).unwrap();
    let keys = selected_keys(&split.services);
    let apart = canary(web, "abc1234567", 2, &keys, "stepping");
    assert_eq!(
        apart.manifest["spec"]["template"]["metadata"]["labels"]["app"],
        "web-canary"
    );
    assert_eq!(
        apart.manifest["spec"]["selector"]["matchLabels"]["app"],
        "web-canary"
    );
    assert_eq!(
        apart.manifest["spec"]["template"]["metadata"]["labels"]["tier"], "web",
        "other labels stay"
    );
    let svc = canary_service(&split.services[0], "abc1234567", &keys);
    assert_eq!(svc.object.name, "web-canary");
    assert_eq!(
        svc.manifest["spec"]["selector"],
        json!({"app": "web-canary", LABEL_REVISION: "abc1234567"})
    );
    assert_eq!(replicas(&with_replicas(web, 7)), 7);
}
