//! Gateway API HTTPRoutes on the Kubernetes API test server, served from a
//! CustomResourceDefinition (`tests/fixtures/gateway-api/httproute-crd.yaml`):
//! a canary's weights, computed by `route_weights` and server-side applied
//! under a field manager of their own, read back from the route, with the
//! fields they do not name left as the route's own manager applied them.

use crate::support;

use std::time::Duration;

use anyhow::{Context, Result};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::pinned_kind;
use serde_json::{Value, json};

use slipway::sync::progressive::traffic::route_weights;
use support::kube_api::KubeApiServer;

/// Upper bound on waiting for the CRD to be served; a guard, not a timing assertion.
const WAIT_LIMIT: Duration = Duration::from_secs(20);
/// The field manager that applies the route from the deploy repo.
const ROUTE_MANAGER: &str = "slipway";
/// The field manager that sets a canary's weights.
const TRAFFIC_MANAGER: &str = "slipway-traffic";

async fn apply(api: &Api<DynamicObject>, manager: &str, object: &Value) -> Result<DynamicObject> {
    let name = object["metadata"]["name"].as_str().context("no name")?;
    Ok(api
        .patch(
            name,
            &PatchParams::apply(manager).force(),
            &Patch::Apply(object),
        )
        .await?)
}

/// Apply the HTTPRoute CRD fixture and wait until its kind is served.
async fn serve_httproutes(client: &kube::Client) -> Result<ApiResource> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/gateway-api/httproute-crd.yaml"
    );
    let crd: Value = serde_saphyr::from_str(&std::fs::read_to_string(path)?)?;
    let gvk = GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition");
    let (crds, _) = pinned_kind(client, &gvk).await?;
    apply(&Api::all_with(client.clone(), &crds), ROUTE_MANAGER, &crd).await?;
    let gvk = GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute");
    let deadline = tokio::time::Instant::now() + WAIT_LIMIT;
    loop {
        match pinned_kind(client, &gvk).await {
            Ok((resource, _)) => return Ok(resource),
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(25)).await
            }
            Err(e) => return Err(e).context("HTTPRoute served once the CRD is established"),
        }
    }
}

fn live_route(server: &KubeApiServer) -> Result<Value> {
    server
        .get_object(
            "gateway.networking.k8s.io/v1",
            "HTTPRoute",
            Some("default"),
            "web",
        )
        .context("the route")
}

/// `(name, weight)` of each backendRef of the route's only rule.
fn backends(route: &Value) -> Vec<(String, Option<u64>)> {
    route["spec"]["rules"][0]["backendRefs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            (
                b["name"].as_str().unwrap_or_default().to_string(),
                b["weight"].as_u64(),
            )
        })
        .collect()
}

#[tokio::test]
async fn canary_weights_are_applied_to_an_httproute_and_read_back() -> Result<()> {
    let server = KubeApiServer::start().await?;
    let client = server.client()?;
    let resource = serve_httproutes(&client).await?;
    let routes: Api<DynamicObject> = Api::namespaced_with(client, "default", &resource);

    let route = json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "parentRefs": [{"name": "public"}],
            "hostnames": ["shop.example"],
            "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                       "backendRefs": [{"name": "web", "port": 80}]}],
        },
    });
    apply(&routes, ROUTE_MANAGER, &route).await?;

    let cases = [
        (10, vec![("web", Some(90)), ("web-canary", Some(10))]),
        (50, vec![("web", Some(50)), ("web-canary", Some(50))]),
        (100, vec![("web", Some(0)), ("web-canary", Some(100))]),
        (0, vec![("web", Some(100))]),
    ];
    for (weight, want) in cases {
        let live = live_route(&server)?;
        let body = route_weights(&live, "web", "web-canary", weight)?;
        apply(&routes, TRAFFIC_MANAGER, &body).await?;
        let after = live_route(&server)?;
        let want: Vec<(String, Option<u64>)> =
            want.into_iter().map(|(n, w)| (n.to_string(), w)).collect();
        assert_eq!(backends(&after), want, "at {weight}%");
        assert_eq!(
            after["spec"]["parentRefs"], route["spec"]["parentRefs"],
            "at {weight}%"
        );
        assert_eq!(
            after["spec"]["hostnames"], route["spec"]["hostnames"],
            "at {weight}%"
        );
        assert_eq!(
            after["spec"]["rules"][0]["matches"], route["spec"]["rules"][0]["matches"],
            "the rule is carried whole at {weight}%"
        );
        let port = &after["spec"]["rules"][0]["backendRefs"];
        assert!(
            port.as_array()
                .into_iter()
                .flatten()
                .all(|b| b["port"] == 80),
            "the canary takes the stable's port: {port}"
        );
    }
    Ok(())
}
