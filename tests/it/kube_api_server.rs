//! The Kubernetes API test server driven by the `kube` crate: discovery,
//! server-side apply, watch, the status subresource, errors and rollouts.

use crate::support;

use std::time::Duration;

use anyhow::{Context, Result};
use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{Discovery, pinned_kind};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};

use support::kube_api::{KubeApiServer, ServerConfig, Verb};

/// Upper bound on waiting for the simulator; a guard, not a timing assertion.
const WAIT_LIMIT: Duration = Duration::from_secs(20);

async fn start() -> Result<(KubeApiServer, kube::Client)> {
    let config = ServerConfig {
        rollout_delay: Duration::from_millis(50),
        ..ServerConfig::default()
    };
    let server = KubeApiServer::start_with(config).await?;
    let client = server.client()?;
    Ok((server, client))
}

async fn api(
    client: &kube::Client,
    group: &str,
    kind: &str,
    namespace: Option<&str>,
) -> Result<Api<DynamicObject>> {
    let gvk = GroupVersionKind::gvk(group, "v1", kind);
    let (resource, _) = pinned_kind(client, &gvk).await?;
    Ok(match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    })
}

fn deployment(name: &str, image: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": image}]}}}
    })
}

async fn apply(
    api: &Api<DynamicObject>,
    manager: &str,
    object: &Value,
) -> kube::Result<DynamicObject> {
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    api.patch(name, &PatchParams::apply(manager), &Patch::Apply(object))
        .await
}

fn api_status(error: kube::Error) -> Result<Box<kube::core::Status>> {
    match error {
        kube::Error::Api(status) => Ok(status),
        other => Err(other).context("expected an API error"),
    }
}

#[tokio::test]
async fn discovery_lists_every_served_kind_with_its_scope() -> Result<()> {
    let (_server, client) = start().await?;
    let discovery = Discovery::new(client.clone()).run().await?;
    let rows: &[(&str, &str, bool)] = &[
        ("", "Namespace", false),
        ("", "ConfigMap", true),
        ("", "Secret", true),
        ("", "Service", true),
        ("", "ServiceAccount", true),
        ("", "Pod", true),
        ("", "Event", true),
        ("apps", "Deployment", true),
        ("apps", "StatefulSet", true),
        ("apps", "DaemonSet", true),
        ("apps", "ReplicaSet", true),
        ("batch", "Job", true),
        ("batch", "CronJob", true),
        ("coordination.k8s.io", "Lease", true),
        ("rbac.authorization.k8s.io", "Role", true),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding", false),
        ("example.slipway.dev", "Widget", true),
    ];
    for (group, kind, namespaced) in rows {
        let (_, caps) = discovery
            .resolve_gvk(&GroupVersionKind::gvk(group, "v1", kind))
            .with_context(|| format!("{kind} not discovered"))?;
        assert_eq!(
            caps.scope == kube::discovery::Scope::Namespaced,
            *namespaced,
            "{kind}"
        );
    }
    let aggregated = Discovery::new(client).run_aggregated().await?;
    assert!(
        aggregated
            .resolve_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment"))
            .is_some()
    );
    Ok(())
}

#[tokio::test]
async fn server_side_apply_creates_then_bumps_generation_only_on_spec_change() -> Result<()> {
    let (_server, client) = start().await?;
    let deployments = api(&client, "apps", "Deployment", Some("default")).await?;
    let created = apply(&deployments, "slipway", &deployment("web", "web:1", 1)).await?;
    assert_eq!(created.metadata.generation, Some(1));
    assert!(created.metadata.uid.is_some() && created.metadata.creation_timestamp.is_some());
    let managers: Vec<_> = created
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .map(|m| m.manager.clone())
        .collect();
    assert_eq!(managers, vec![Some("slipway".to_string())]);

    let same = apply(&deployments, "slipway", &deployment("web", "web:1", 1)).await?;
    assert_eq!(
        same.metadata.resource_version, created.metadata.resource_version,
        "no-op apply writes nothing"
    );

    let mut labelled = deployment("web", "web:1", 1);
    labelled["metadata"]["labels"]["team"] = json!("a");
    let relabelled = apply(&deployments, "slipway", &labelled).await?;
    assert_eq!(
        relabelled.metadata.generation,
        Some(1),
        "metadata change keeps the generation"
    );
    assert_ne!(
        relabelled.metadata.resource_version,
        created.metadata.resource_version
    );

    let mut changed = labelled.clone();
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("web:2");
    let bumped = apply(&deployments, "slipway", &changed).await?;
    assert_eq!(
        bumped.metadata.generation,
        Some(2),
        "spec change bumps the generation"
    );
    Ok(())
}

#[tokio::test]
async fn conflicting_apply_is_refused_with_causes_until_forced() -> Result<()> {
    let (_server, client) = start().await?;
    let deployments = api(&client, "apps", "Deployment", Some("default")).await?;
    apply(&deployments, "slipway", &deployment("web", "web:1", 1)).await?;
    let scale = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 3}});
    let refused = deployments
        .patch("web", &PatchParams::apply("hpa"), &Patch::Apply(&scale))
        .await;
    let status = api_status(refused.err().context("apply should conflict")?)?;
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        status.message,
        "Apply failed with 1 conflict: conflict with \"slipway\": .spec.replicas"
    );
    let causes = status.details.map(|d| d.causes).unwrap_or_default();
    assert_eq!(causes.len(), 1);
    assert_eq!(
        (causes[0].reason.as_str(), causes[0].field.as_str()),
        ("FieldManagerConflict", ".spec.replicas")
    );

    let forced = deployments
        .patch(
            "web",
            &PatchParams::apply("hpa").force(),
            &Patch::Apply(&scale),
        )
        .await?;
    assert_eq!(forced.data["spec"]["replicas"], json!(3));
    Ok(())
}

#[tokio::test]
async fn status_subresource_is_separate_from_the_main_endpoint() -> Result<()> {
    let (_server, client) = start().await?;
    let widgets = api(&client, "example.slipway.dev", "Widget", Some("default")).await?;
    let widget = json!({"apiVersion": "example.slipway.dev/v1", "kind": "Widget", "metadata": {"name": "w"},
                        "spec": {"size": 1}, "status": {"ignored": true}});
    let created = apply(&widgets, "slipway", &widget).await?;
    assert_eq!(
        created.data.get("status"),
        None,
        "status is ignored on the main endpoint"
    );

    let status = json!({"status": {"phase": "Ready"}});
    widgets
        .patch_status("w", &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    let read = widgets.get_status("w").await?;
    assert_eq!(read.data["status"]["phase"], json!("Ready"));
    assert_eq!(
        read.metadata.generation,
        Some(1),
        "status writes keep the generation"
    );
    Ok(())
}

#[tokio::test]
async fn list_filters_by_label_and_reports_a_resource_version() -> Result<()> {
    let (_server, client) = start().await?;
    let deployments = api(&client, "apps", "Deployment", Some("default")).await?;
    apply(&deployments, "slipway", &deployment("web", "web:1", 1)).await?;
    apply(&deployments, "slipway", &deployment("db", "db:1", 1)).await?;
    let list = deployments
        .list(&ListParams::default().labels("app=web"))
        .await?;
    let names: Vec<_> = list
        .items
        .iter()
        .filter_map(|o| o.metadata.name.clone())
        .collect();
    assert_eq!(names, vec!["web".to_string()]);
    assert!(
        list.metadata
            .resource_version
            .is_some_and(|v| !v.is_empty())
    );
    let paged = deployments.list(&ListParams::default().limit(1)).await?;
    assert_eq!(paged.items.len(), 1);
    let token = paged
        .metadata
        .continue_
        .context("first page has a continue token")?;
    let rest = deployments
        .list(&ListParams::default().limit(1).continue_token(&token))
        .await?;
    assert_eq!(rest.items.len(), 1);
    assert_ne!(rest.items[0].metadata.name, paged.items[0].metadata.name);
    Ok(())
}

#[tokio::test]
async fn watcher_sees_changes_after_its_initial_list() -> Result<()> {
    let (_server, client) = start().await?;
    let config_maps = api(&client, "", "ConfigMap", Some("default")).await?;
    let map = |value: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": value}});
    apply(&config_maps, "slipway", &map("1")).await?;
    let mut stream = watcher(config_maps.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();
    let first = tokio::time::timeout(WAIT_LIMIT, stream.try_next())
        .await??
        .context("initial object")?;
    assert_eq!(first.data["data"]["k"], json!("1"));
    apply(&config_maps, "slipway", &map("2")).await?;
    let second = tokio::time::timeout(WAIT_LIMIT, stream.try_next())
        .await??
        .context("modified object")?;
    assert_eq!(second.data["data"]["k"], json!("2"));
    Ok(())
}

#[tokio::test]
async fn watch_from_a_compacted_version_reports_410_expired() -> Result<()> {
    let (server, client) = start().await?;
    let config_maps = api(&client, "", "ConfigMap", Some("default")).await?;
    let created = apply(
        &config_maps,
        "slipway",
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
    )
    .await?;
    let old_version = created
        .metadata
        .resource_version
        .context("resourceVersion")?;
    apply(
        &config_maps,
        "slipway",
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d"}}),
    )
    .await?;
    server.compact();
    let url = format!(
        "{}/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={old_version}",
        server.url()
    );
    let body = reqwest::get(url).await?.text().await?;
    let event: Value = serde_json::from_str(body.lines().next().context("one event")?)?;
    assert_eq!(event["type"], json!("ERROR"));
    assert_eq!(
        (
            event["object"]["code"].clone(),
            event["object"]["reason"].clone()
        ),
        (json!(410), json!("Expired"))
    );
    Ok(())
}

#[tokio::test]
async fn missing_objects_and_namespaces_answer_404_status() -> Result<()> {
    let (_server, client) = start().await?;
    let config_maps = api(&client, "", "ConfigMap", Some("default")).await?;
    let status = api_status(
        config_maps
            .delete("absent", &DeleteParams::default())
            .await
            .err()
            .context("404")?,
    )?;
    assert!(status.is_not_found() && status.message == "configmaps \"absent\" not found");
    let elsewhere = api(&client, "", "ConfigMap", Some("nowhere")).await?;
    let map = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "nowhere"}});
    let status = api_status(
        elsewhere
            .create(&PostParams::default(), &serde_json::from_value(map)?)
            .await
            .err()
            .context("404")?,
    )?;
    assert!(status.is_not_found() && status.message == "namespaces \"nowhere\" not found");
    Ok(())
}

#[tokio::test]
async fn counters_report_requests_by_verb_and_resource() -> Result<()> {
    let (server, client) = start().await?;
    let config_maps = api(&client, "", "ConfigMap", Some("default")).await?;
    server.reset_stats();
    let map = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    apply(&config_maps, "slipway", &map).await?;
    apply(&config_maps, "slipway", &map).await?;
    config_maps.get("c").await?;
    let stats = server.stats();
    assert_eq!(
        (
            stats.verb(Verb::Apply),
            stats.verb(Verb::Get),
            stats.unchanged_writes
        ),
        (2, 1, 1)
    );
    let over_http: Value = reqwest::get(format!("{}/_test/stats", server.url()))
        .await?
        .json()
        .await?;
    assert_eq!(over_http["by_resource"]["configmaps"]["APPLY"], json!(2));
    reqwest::Client::new()
        .post(format!("{}/_test/reset-stats", server.url()))
        .send()
        .await?;
    assert_eq!(server.stats().total, 0);
    Ok(())
}
