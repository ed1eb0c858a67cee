//! A canary's share of traffic, computed purely: by the ratio of canary to
//! stable replicas behind one Service, or by the weights of a Gateway API
//! HTTPRoute (`gateway.networking.k8s.io/v1`) whose `backendRefs` name the
//! stable Service.
//!
//! HTTPRoute weights are relative: a backendRef's share is its weight over
//! the sum of the weights in its rule's `backendRefs` (an absent weight
//! counts 1, a weight of 0 sends nothing). Writing `100 - w` on the stable
//! and `w` on the canary makes the pair's split exactly `w` percent.

use serde_json::{Map, Value, json};

/// `apiVersion` of the HTTPRoutes whose weights are set.
pub const HTTPROUTE_API_VERSION: &str = "gateway.networking.k8s.io/v1";

/// Stable and canary replicas for a canary at `weight_percent` of `total`
/// (the workload's desired replicas): the canary gets
/// `ceil(total * w / 100)`, at least 1 when `w > 0`, never more than
/// `total`; the stable gets the rest, but keeps one pod while `w < 100` so
/// a canary step never leaves only the canary serving (with one replica in
/// all, a canary step runs two pods). At 0 the canary gets none, at 100 the
/// stable gets none. A `total` of 0 or less gives `(0, 0)`; a weight over
/// 100 counts as 100. Returns `(stable, canary)`.
pub fn replica_split(total: i32, weight_percent: u8) -> (i32, i32) {
    let Ok(whole) = u64::try_from(total) else {
        return (0, 0);
    };
    if whole == 0 {
        return (0, 0);
    }
    let weight = u64::from(weight_percent.min(100));
    // At most `total`, so it fits back into an i32.
    let canary = match weight {
        0 => 0,
        w => (whole * w).div_ceil(100).clamp(1, whole) as i32,
    };
    let stable = match weight {
        100 => 0,
        _ => (total - canary).max(1),
    };
    (stable, canary)
}

/// Why an HTTPRoute's weights could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrafficError {
    /// The object is not an HTTPRoute with a name and `spec.rules`.
    #[error("not a {HTTPROUTE_API_VERSION} HTTPRoute with metadata.name and spec.rules: {what}")]
    NotAnHttpRoute {
        /// What is missing or wrong.
        what: String,
    },
    /// No rule's `backendRefs` name the stable Service.
    #[error("HTTPRoute {route}: no rule has a backendRef to Service {service}")]
    NoRuleNamesStable {
        /// `namespace/name` of the route.
        route: String,
        /// The stable Service's name.
        service: String,
    },
}

/// The server-side apply body that sends `weight` percent (0–100; more
/// counts as 100) of the traffic of `route` (a live HTTPRoute) to
/// `canary_service`: `apiVersion`, `kind`, `metadata.name`/`namespace` and
/// `spec.rules`, every rule copied from the live route, and in each rule
/// whose `backendRefs` name `stable_service` the stable backendRef's weight
/// set to `100 - weight` and the canary's to `weight`. A missing canary
/// backendRef is added after the stable one with the stable's port,
/// namespace and filters; at 0 the canary backendRef is removed.
///
/// `spec.rules` and `backendRefs` are atomic lists, so the body carries every
/// rule whole. It names no other field of `spec` (`parentRefs`,
/// `hostnames`): apply it with a field manager of its own, or those fields
/// would be dropped from the manager that applies the route itself.
pub fn route_weights(
    route: &Value,
    stable_service: &str,
    canary_service: &str,
    weight: u8,
) -> Result<Value, TrafficError> {
    let not_route = |what: &str| TrafficError::NotAnHttpRoute { what: what.into() };
    if route["apiVersion"] != HTTPROUTE_API_VERSION || route["kind"] != "HTTPRoute" {
        return Err(not_route(&format!(
            "apiVersion {} kind {}",
            route["apiVersion"], route["kind"]
        )));
    }
    let name = route["metadata"]["name"]
        .as_str()
        .ok_or_else(|| not_route("no metadata.name"))?;
    let namespace = route["metadata"]["namespace"].as_str();
    let rules = route["spec"]["rules"]
        .as_array()
        .ok_or_else(|| not_route("no spec.rules list"))?;
    let weight = weight.min(100);
    let mut named = false;
    let rules: Vec<Value> = rules
        .iter()
        .map(|rule| {
            let (rule, touched) =
                weigh_rule(rule, namespace, stable_service, canary_service, weight);
            named |= touched;
            rule
        })
        .collect();
    if !named {
        return Err(TrafficError::NoRuleNamesStable {
            route: format!("{}/{name}", namespace.unwrap_or("default")),
            service: stable_service.into(),
        });
    }
    let mut metadata = Map::new();
    metadata.insert("name".into(), name.into());
    if let Some(namespace) = namespace {
        metadata.insert("namespace".into(), namespace.into());
    }
    Ok(json!({
        "apiVersion": HTTPROUTE_API_VERSION,
        "kind": "HTTPRoute",
        "metadata": metadata,
        "spec": {"rules": rules},
    }))
}

/// One rule with its weights set, and whether it names the stable Service.
fn weigh_rule(
    rule: &Value,
    route_namespace: Option<&str>,
    stable: &str,
    canary: &str,
    weight: u8,
) -> (Value, bool) {
    let refs = rule["backendRefs"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let names = |r: &Value, service: &str| is_service_ref(r, service, route_namespace);
    let Some(stable_ref) = refs.iter().find(|r| names(r, stable)) else {
        return (rule.clone(), false);
    };
    let mut out: Vec<Value> = Vec::with_capacity(refs.len() + 1);
    let has_canary = refs.iter().any(|r| names(r, canary));
    for backend in refs {
        if names(backend, canary) {
            if weight > 0 {
                out.push(with_weight(backend, weight));
            }
        } else if names(backend, stable) {
            out.push(with_weight(backend, 100 - weight));
            if !has_canary && weight > 0 && std::ptr::eq(backend, stable_ref) {
                out.push(canary_ref(stable_ref, canary, weight));
            }
        } else {
            out.push(backend.clone());
        }
    }
    let mut rule = rule.clone();
    rule["backendRefs"] = Value::Array(out);
    (rule, true)
}

/// Whether a backendRef points at the Service `service` of the route's
/// namespace: `kind` absent or `Service`, `group` absent or core (`""`),
/// `namespace` absent or the route's.
fn is_service_ref(backend: &Value, service: &str, route_namespace: Option<&str>) -> bool {
    let kind_ok = backend["kind"].as_str().is_none_or(|k| k == "Service");
    let group_ok = backend["group"].as_str().is_none_or(str::is_empty);
    let namespace_ok = match (backend["namespace"].as_str(), route_namespace) {
        (None, _) => true,
        (Some(ns), Some(route_ns)) => ns == route_ns,
        (Some(ns), None) => ns == "default",
    };
    kind_ok && group_ok && namespace_ok && backend["name"] == service
}

fn with_weight(backend: &Value, weight: u8) -> Value {
    let mut backend = backend.clone();
    backend["weight"] = weight.into();
    backend
}

/// A backendRef to the canary Service beside `stable_ref`: same kind,
/// group, namespace, port and per-backend filters, so the canary is served
/// as the stable is.
fn canary_ref(stable_ref: &Value, canary: &str, weight: u8) -> Value {
    let mut backend = Map::new();
    for key in ["group", "kind", "namespace", "port", "filters"] {
        if let Some(v) = stable_ref.get(key) {
            backend.insert(key.into(), v.clone());
        }
    }
    backend.insert("name".into(), canary.into());
    backend.insert("weight".into(), weight.into());
    Value::Object(backend)
}

#[cfg(test)]
#[path = "traffic_tests.rs"]
mod tests;
