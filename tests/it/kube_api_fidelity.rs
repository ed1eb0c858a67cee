//! The API test server where a sync loop's failure handling depends on it
//! behaving like a real one: immutable fields refused with their path,
//! `dryRun=All`, namespace termination, TTL-deleted Jobs and discovery
//! lagging behind a CustomResourceDefinition.

use crate::support;

use std::time::Duration;

use anyhow::{Context, Result};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::pinned_kind;
use serde_json::{Value, json};

use support::kube_api::controllers::Timings;
use support::kube_api::{KubeApiServer, ServerConfig, Verb};

/// Upper bound on waiting for a controller; a guard, not a timing assertion.
const WAIT_LIMIT: Duration = Duration::from_secs(20);

async fn start(timings: Timings) -> Result<(KubeApiServer, kube::Client)> {
    let config = ServerConfig {
        rollout_delay: Duration::from_millis(50),
        controllers: timings,
        ..ServerConfig::default()
    };
    let server = KubeApiServer::start_with(config).await?;
    let client = server.client()?;
    Ok((server, client))
}

fn quick() -> Timings {
    Timings {
        namespace_termination: Duration::from_millis(300),
        crd_establish: Duration::from_millis(50),
        crd_discovery_lag: Duration::from_millis(50),
    }
}

async fn api(
    client: &kube::Client,
    gvk: (&str, &str, &str),
    ns: Option<&str>,
) -> Result<Api<DynamicObject>> {
    let (resource, _) = pinned_kind(client, &GroupVersionKind::gvk(gvk.0, gvk.1, gvk.2)).await?;
    Ok(match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    })
}

async fn apply(
    api: &Api<DynamicObject>,
    object: &Value,
    dry_run: bool,
) -> kube::Result<DynamicObject> {
    let mut params = PatchParams::apply("slipway").force();
    params.dry_run = dry_run;
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    api.patch(name, &params, &Patch::Apply(object)).await
}

fn status_of(error: kube::Error) -> Result<Box<kube::core::Status>> {
    match error {
        kube::Error::Api(status) => Ok(status),
        other => Err(other).context("not an API error"),
    }
}

/// Poll `done` until it holds, up to [`WAIT_LIMIT`].
async fn eventually(what: &str, mut done: impl FnMut() -> bool) -> Result<()> {
    let deadline = tokio::time::Instant::now() + WAIT_LIMIT;
    while !done() {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{what} did not happen"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Ok(())
}

fn job(image: &str, ttl: Option<u64>) -> Value {
    let mut job = json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "migrate", "namespace": "default"},
        "spec": {"template": {"metadata": {"labels": {"app": "migrate"}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "migrate", "image": image}]}}}});
    if let Some(ttl) = ttl {
        job["spec"]["ttlSecondsAfterFinished"] = json!(ttl);
    }
    job
}

#[tokio::test]
async fn immutable_fields_are_refused_with_their_path_and_a_go_dump() -> Result<()> {
    let (_server, client) = start(quick()).await?;
    let jobs = api(&client, ("batch", "v1", "Job"), Some("default")).await?;
    apply(&jobs, &job("ghcr.io/acme/migrate:1", None), false).await?;
    let refused = status_of(
        apply(&jobs, &job("ghcr.io/acme/migrate:2", None), false)
            .await
            .err()
            .context("a changed Job template is refused")?,
    )?;
    assert_eq!((refused.code, refused.reason.as_str()), (422, "Invalid"));
    assert!(
        refused.message.starts_with(
            "Job.batch \"migrate\" is invalid: spec.template: Invalid value: core.PodTemplateSpec{"
        ) && refused.message.ends_with("field is immutable"),
        "{}",
        refused.message
    );
    let cause = &refused.details.context("details")?.causes[0];
    assert_eq!(cause.field, "spec.template");

    let services = api(&client, ("", "v1", "Service"), Some("default")).await?;
    let service = |ip: Option<&str>| {
        let mut s = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}});
        if let Some(ip) = ip {
            s["spec"]["clusterIP"] = json!(ip);
        }
        s
    };
    let created = apply(&services, &service(None), false).await?;
    let allocated = created.data["spec"]["clusterIP"]
        .as_str()
        .context("an address")?
        .to_string();
    apply(&services, &service(None), false)
        .await
        .context("the address is kept")?;
    let refused = status_of(
        apply(&services, &service(Some("10.96.255.254")), false)
            .await
            .err()
            .context("refused")?,
    )?;
    assert_eq!(refused.code, 422);
    assert!(
        refused.message.contains("spec.clusterIPs[0]")
            && refused.message.contains("may not change once set"),
        "{}",
        refused.message
    );
    assert_ne!(allocated, "10.96.255.254");
    Ok(())
}

#[tokio::test]
async fn an_int_or_string_keeps_its_form_and_a_string_it_cannot_be_is_refused() -> Result<()> {
    let (_server, client) = start(quick()).await?;
    let services = api(&client, ("", "v1", "Service"), Some("default")).await?;
    let service = |name: &str, target_port: Value| {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": target_port}]}})
    };
    for (name, target_port) in [("by-number", json!(8080)), ("by-name", json!("http"))] {
        let stored = apply(&services, &service(name, target_port.clone()), false).await?;
        assert_eq!(stored.data["spec"]["ports"][0]["targetPort"], target_port);
    }
    let refused = status_of(
        apply(&services, &service("quoted", json!("8080")), false)
            .await
            .err()
            .context("a port name of digits is refused")?,
    )?;
    assert_eq!((refused.code, refused.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        refused.message,
        "Service \"quoted\" is invalid: spec.ports[0].targetPort: Invalid value: \"8080\": must contain at least one letter (a-z)"
    );
    assert_eq!(
        refused.details.context("details")?.causes[0].field,
        "spec.ports[0].targetPort"
    );
    Ok(())
}

#[tokio::test]
async fn a_dry_run_answers_as_a_write_would_and_stores_nothing() -> Result<()> {
    let (server, client) = start(quick()).await?;
    let maps = api(&client, ("", "v1", "ConfigMap"), Some("default")).await?;
    let map = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}, "data": {"k": "v"}});
    server.reset_stats();
    let answered = apply(&maps, &map, true).await?;
    assert_eq!(answered.data["data"]["k"], "v");
    assert!(
        server
            .get_object("v1", "ConfigMap", Some("default"), "c")
            .is_none()
    );
    assert_eq!(
        (server.stats().verb(Verb::DryRun), server.stats().writes()),
        (1, 0)
    );

    let elsewhere = api(&client, ("", "v1", "ConfigMap"), Some("nowhere")).await?;
    let mut lost = map.clone();
    lost["metadata"]["namespace"] = json!("nowhere");
    let missing = status_of(
        apply(&elsewhere, &lost, true)
            .await
            .err()
            .context("no namespace")?,
    )?;
    assert_eq!(
        (
            missing.code,
            missing.details.context("details")?.kind.as_str()
        ),
        (404, "namespaces")
    );

    let deployments = api(&client, ("apps", "v1", "Deployment"), Some("default")).await?;
    let mut web = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": -1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "web:1"}]}}}});
    let negative = status_of(
        apply(&deployments, &web, true)
            .await
            .err()
            .context("negative replicas")?,
    )?;
    assert_eq!(negative.code, 422);
    assert!(
        negative
            .message
            .contains("spec.replicas: Invalid value: -1"),
        "{}",
        negative.message
    );
    web["spec"]["replicas"] = json!("two");
    let untyped = status_of(
        apply(&deployments, &web, true)
            .await
            .err()
            .context("replicas as text")?,
    )?;
    assert_eq!(untyped.code, 500);
    assert!(
        untyped
            .message
            .starts_with("failed to create typed patch object"),
        "{}",
        untyped.message
    );
    Ok(())
}

#[tokio::test]
async fn a_deleted_namespace_terminates_refusing_new_content_then_goes() -> Result<()> {
    let (server, client) = start(quick()).await?;
    let namespaces = api(&client, ("", "v1", "Namespace"), None).await?;
    apply(
        &namespaces,
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
        false,
    )
    .await?;
    let maps = api(&client, ("", "v1", "ConfigMap"), Some("shop")).await?;
    let map = |name: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "shop"}});
    apply(&maps, &map("c"), false).await?;
    namespaces.delete("shop", &DeleteParams::default()).await?;
    let terminating = server
        .get_object("v1", "Namespace", None, "shop")
        .context("still there")?;
    assert_eq!(terminating["status"]["phase"], "Terminating");
    let refused = status_of(
        apply(&maps, &map("new"), false)
            .await
            .err()
            .context("refused")?,
    )?;
    assert_eq!((refused.code, refused.reason.as_str()), (403, "Forbidden"));
    assert!(
        refused.message.contains("because it is being terminated"),
        "{}",
        refused.message
    );
    eventually("the namespace to go", || {
        server.get_object("v1", "Namespace", None, "shop").is_none()
    })
    .await?;
    assert_eq!(
        server.get_object("v1", "ConfigMap", Some("shop"), "c"),
        None
    );
    let missing = status_of(
        apply(&maps, &map("later"), false)
            .await
            .err()
            .context("gone")?,
    )?;
    assert_eq!(missing.code, 404);
    Ok(())
}

#[tokio::test]
async fn a_finished_job_with_a_ttl_is_deleted_by_the_ttl_controller() -> Result<()> {
    let (server, client) = start(quick()).await?;
    let jobs = api(&client, ("batch", "v1", "Job"), Some("default")).await?;
    apply(&jobs, &job("ghcr.io/acme/migrate:1", Some(0)), false).await?;
    eventually("the Job to finish and go", || {
        server
            .get_object("batch/v1", "Job", Some("default"), "migrate")
            .is_none()
    })
    .await?;
    assert!(
        server.list_objects("v1", "Pod", Some("default")).is_empty(),
        "its pods go with it"
    );
    Ok(())
}

#[tokio::test]
async fn discovery_serves_a_new_crds_kind_only_after_it_is_established_and_a_lag() -> Result<()> {
    let timings = Timings {
        crd_establish: Duration::from_millis(100),
        crd_discovery_lag: Duration::from_millis(400),
        ..quick()
    };
    let (server, client) = start(timings).await?;
    let crds = api(
        &client,
        ("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
        None,
    )
    .await?;
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "crontabs.stable.example.com"},
        "spec": {"group": "stable.example.com", "scope": "Namespaced",
                 "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}});
    apply(&crds, &crd, false).await?;
    let gvk = GroupVersionKind::gvk("stable.example.com", "v1", "CronTab");
    let early = pinned_kind(&client, &gvk)
        .await
        .err()
        .context("not served yet")?;
    assert_eq!(status_of(early)?.code, 404);
    eventually("the CRD to be established", || {
        server
            .get_object(
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                None,
                "crontabs.stable.example.com",
            )
            .is_some_and(|c| {
                c["status"]["conditions"]
                    .to_string()
                    .contains("Established")
            })
    })
    .await?;
    let deadline = tokio::time::Instant::now() + WAIT_LIMIT;
    let resource: ApiResource = loop {
        match pinned_kind(&client, &gvk).await {
            Ok((resource, _)) => break resource,
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(25)).await
            }
            Err(e) => return Err(e).context("served after the lag"),
        }
    };
    let crontabs: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &resource);
    let tab = json!({"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "nightly", "namespace": "default"}, "spec": {"cronSpec": "0 3 * * *"}});
    apply(&crontabs, &tab, false).await?;
    assert!(
        server
            .get_object(
                "stable.example.com/v1",
                "CronTab",
                Some("default"),
                "nightly"
            )
            .is_some()
    );
    Ok(())
}
