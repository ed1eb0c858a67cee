//! Discovery documents (legacy and aggregated) and the OpenAPI v3 documents
//! kubectl reads to learn that the server validates fields itself.

use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::resources::{self, ResourceType, STATUS_VERBS, VERBS};

/// The resource types one server serves (built-in and custom).
type Served<'a> = &'a [&'static ResourceType];

/// The Kubernetes version this server claims to be.
pub const SERVER_MINOR: &str = "33";

/// Media type of aggregated discovery (`apidiscovery.k8s.io/v2`).
pub const AGGREGATED_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether the client asked for aggregated discovery.
pub fn wants_aggregated(headers: &HeaderMap) -> bool {
    headers
        .get_all(axum::http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|accept| {
            accept.split(',').any(|t| {
                t.contains("as=APIGroupDiscoveryList")
                    && t.contains("v=v2")
                    && !t.contains("v=v2beta1")
            })
        })
}

/// `GET /version`.
pub fn version() -> Value {
    json!({
        "major": "1", "minor": SERVER_MINOR, "gitVersion": format!("v1.{SERVER_MINOR}.0"),
        "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24.0", "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// `GET /api`.
pub fn core_versions(server_address: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"],
           "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]})
}

fn version_of(served: Served, group: &str) -> &'static str {
    served
        .iter()
        .find(|r| r.group == group)
        .map_or("v1", |r| r.version)
}

fn group_entry(served: Served, group: &str) -> Value {
    let v = version_of(served, group);
    let version = json!({"groupVersion": format!("{group}/{v}"), "version": v});
    json!({"name": group, "versions": [version.clone()], "preferredVersion": version})
}

/// `GET /apis`.
pub fn group_list(served: Served) -> Value {
    let groups: Vec<Value> = resources::groups(served)
        .into_iter()
        .map(|g| group_entry(served, g))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/{group}`, when the group exists.
pub fn group(served: Served, name: &str) -> Option<Value> {
    resources::groups(served).contains(&name).then(|| {
        let mut entry = group_entry(served, name);
        entry["kind"] = json!("APIGroup");
        entry["apiVersion"] = json!("v1");
        entry
    })
}

/// `GET /api/v1` or `/apis/{group}/{version}`, when served.
pub fn resource_list(served: Served, group: &str, version: &str) -> Option<Value> {
    let served: Vec<&ResourceType> = served
        .iter()
        .copied()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if served.is_empty() {
        return None;
    }
    let mut entries = Vec::new();
    for resource in served {
        entries.push(json!({
            "name": resource.plural, "singularName": resource.singular, "namespaced": resource.namespaced,
            "kind": resource.kind, "verbs": VERBS, "shortNames": resource.short_names,
            "categories": resource.categories,
        }));
        if resource.has_status {
            entries.push(json!({
                "name": format!("{}/status", resource.plural), "singularName": "",
                "namespaced": resource.namespaced, "kind": resource.kind, "verbs": STATUS_VERBS,
            }));
        }
        if resource.kind == "Pod" {
            entries.push(json!({
                "name": "pods/binding", "singularName": "", "namespaced": true,
                "kind": "Binding", "verbs": ["create"],
            }));
            entries.push(json!({
                "name": "pods/log", "singularName": "", "namespaced": true,
                "kind": "Pod", "verbs": ["get"],
            }));
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": entries}),
    )
}

fn aggregated_resource(resource: &ResourceType) -> Value {
    let kind = json!({"group": resource.group, "version": resource.version, "kind": resource.kind});
    let mut entry = json!({
        "resource": resource.plural, "responseKind": kind.clone(),
        "scope": if resource.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": resource.singular, "verbs": VERBS,
        "shortNames": resource.short_names, "categories": resource.categories,
    });
    if resource.has_status {
        entry["subresources"] =
            json!([{"subresource": "status", "responseKind": kind, "verbs": STATUS_VERBS}]);
    }
    entry
}

/// Aggregated discovery for `/api` (`core = true`) or `/apis`.
pub fn aggregated(served: Served, core: bool) -> Value {
    let groups: Vec<&str> = if core {
        vec![""]
    } else {
        resources::groups(served)
    };
    let items: Vec<Value> = groups
        .into_iter()
        .map(|group| {
            let resources: Vec<Value> = served
                .iter()
                .filter(|r| r.group == group)
                .map(|r| aggregated_resource(r))
                .collect();
            let metadata = if group.is_empty() { json!({}) } else { json!({"name": group}) };
            let version = version_of(served, group);
            json!({"metadata": metadata, "versions": [{"version": version, "resources": resources, "freshness": "Current"}]})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

/// Static hash in OpenAPI URLs; the documents never change while running.
const OPENAPI_HASH: &str = "slipway-test";

/// `GET /openapi/v3`: where each group version's document is.
pub fn openapi_root(served: Served) -> Value {
    let mut paths = serde_json::Map::new();
    let mut group_versions: Vec<String> = vec!["api/v1".into()];
    group_versions.extend(
        resources::groups(served)
            .into_iter()
            .map(|g| format!("apis/{g}/{}", version_of(served, g))),
    );
    for gv in group_versions {
        paths.insert(
            gv.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{gv}?hash={OPENAPI_HASH}")}),
        );
    }
    json!({"paths": paths})
}

/// `GET /openapi/v3/{api/v1 | apis/group/version}`: the object paths of the
/// group version with their PATCH operations, which declare the
/// `fieldValidation` parameter. Object schemas are not included.
pub fn openapi_group_version(served: Served, group: &str, version: &str) -> Option<Value> {
    let mut paths = serde_json::Map::new();
    for resource in served
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        let base = resource.group_version_path();
        let path = if resource.namespaced {
            format!(
                "{base}/namespaces/{{namespace}}/{}/{{name}}",
                resource.plural
            )
        } else {
            format!("{base}/{}/{{name}}", resource.plural)
        };
        let parameters: Vec<Value> = ["dryRun", "fieldManager", "fieldValidation", "force"]
            .iter()
            .map(|name| json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}}))
            .collect();
        let operation = json!({
            "operationId": format!("patch{}", resource.kind),
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": {"group": resource.group, "version": resource.version, "kind": resource.kind},
            "parameters": parameters,
            "responses": {"200": {"description": "OK"}},
        });
        paths.insert(path, json!({"patch": operation}));
    }
    if paths.is_empty() {
        return None;
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": format!("v1.{SERVER_MINOR}.0")},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}
