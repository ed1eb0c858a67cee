use serde_json::{Value, json};

use super::*;

#[test]
fn replicas_split_with_the_canary_rounded_up() {
    // (name, total, weight, (stable, canary))
    let cases = [
        ("no canary", 10, 0, (10, 0)),
        ("ten percent of ten", 10, 10, (9, 1)),
        ("ten percent of four rounds up", 4, 10, (3, 1)),
        ("half", 4, 50, (2, 2)),
        ("a third of ten rounds up", 10, 33, (6, 4)),
        ("one percent still gets a pod", 50, 1, (49, 1)),
        ("all", 4, 100, (0, 4)),
        ("over 100 counts as 100", 4, 150, (0, 4)),
        ("one replica: the stable keeps its pod", 1, 10, (1, 1)),
        ("most of two: the stable keeps one", 2, 60, (1, 2)),
        ("one replica at 100", 1, 100, (0, 1)),
        ("one replica at 0", 1, 0, (1, 0)),
        ("scaled to zero", 0, 50, (0, 0)),
        ("negative total", -3, 50, (0, 0)),
    ];
    for (name, total, weight, want) in cases {
        assert_eq!(replica_split(total, weight), want, "{name}");
    }
}

fn route(rules: Value) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "7", "uid": "u-1"},
        "spec": {"parentRefs": [{"name": "gateway"}], "hostnames": ["shop.example"], "rules": rules},
    })
}

fn body(rules: Value) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"rules": rules},
    })
}

#[test]
fn route_weights_set_the_stable_and_canary_backend_refs() {
    let matches = json!([{"path": {"type": "PathPrefix", "value": "/"}}]);
    let cases = [
        (
            "adds the canary beside the stable, same port",
            json!([{"matches": matches, "backendRefs": [{"name": "web", "port": 80}]}]),
            10,
            json!([{"matches": matches, "backendRefs": [
                {"name": "web", "port": 80, "weight": 90},
                {"name": "web-canary", "port": 80, "weight": 10}]}]),
        ),
        (
            "updates an existing canary",
            json!([{"backendRefs": [{"name": "web", "port": 80, "weight": 90}, {"name": "web-canary", "port": 80, "weight": 10}]}]),
            50,
            json!([{"backendRefs": [{"name": "web", "port": 80, "weight": 50}, {"name": "web-canary", "port": 80, "weight": 50}]}]),
        ),
        (
            "at 0 the canary is removed",
            json!([{"backendRefs": [{"name": "web", "port": 80, "weight": 50}, {"name": "web-canary", "port": 80, "weight": 50}]}]),
            0,
            json!([{"backendRefs": [{"name": "web", "port": 80, "weight": 100}]}]),
        ),
        (
            "at 100 the stable stays with weight 0",
            json!([{"backendRefs": [{"name": "web", "port": 80}]}]),
            100,
            json!([{"backendRefs": [{"name": "web", "port": 80, "weight": 0}, {"name": "web-canary", "port": 80, "weight": 100}]}]),
        ),
        (
            "only rules naming the stable change, all rules kept",
            json!([
                {"matches": [{"path": {"type": "PathPrefix", "value": "/api"}}], "backendRefs": [{"name": "api", "port": 8080}]},
                {"backendRefs": [{"kind": "Service", "group": "", "name": "web", "port": 80}], "timeouts": {"request": "10s"}},
            ]),
            25,
            json!([
                {"matches": [{"path": {"type": "PathPrefix", "value": "/api"}}], "backendRefs": [{"name": "api", "port": 8080}]},
                {"backendRefs": [
                    {"kind": "Service", "group": "", "name": "web", "port": 80, "weight": 75},
                    {"kind": "Service", "group": "", "name": "web-canary", "port": 80, "weight": 25}],
                 "timeouts": {"request": "10s"}},
            ]),
        ),
        (
            "other backends in the rule are kept as they are",
            json!([{"backendRefs": [{"name": "web", "port": 80}, {"name": "legacy", "port": 80, "weight": 5}]}]),
            10,
            json!([{"backendRefs": [
                {"name": "web", "port": 80, "weight": 90},
                {"name": "web-canary", "port": 80, "weight": 10},
                {"name": "legacy", "port": 80, "weight": 5}]}]),
        ),
        (
            "per-backend filters follow to the canary",
            json!([{"backendRefs": [{"name": "web", "namespace": "shop", "port": 80,
                "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"add": [{"name": "x", "value": "1"}]}}]}]}]),
            10,
            json!([{"backendRefs": [
                {"name": "web", "namespace": "shop", "port": 80, "weight": 90,
                 "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"add": [{"name": "x", "value": "1"}]}}]},
                {"name": "web-canary", "namespace": "shop", "port": 80, "weight": 10,
                 "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"add": [{"name": "x", "value": "1"}]}}]}]}]),
        ),
    ];
    for (name, rules, weight, want) in cases {
        let got = route_weights(&route(rules), "web", "web-canary", weight)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, body(want), "{name}");
    }
}

#[test]
fn route_weights_refuse_a_route_without_the_stable_service() {
    let cases = [
        (
            "another Service",
            json!([{"backendRefs": [{"name": "api", "port": 80}]}]),
            "no rule has a backendRef to Service web",
        ),
        (
            "same name, another kind",
            json!([{"backendRefs": [{"group": "example.dev", "kind": "Backend", "name": "web"}]}]),
            "no rule has a backendRef",
        ),
        (
            "same name, another namespace",
            json!([{"backendRefs": [{"name": "web", "namespace": "other", "port": 80}]}]),
            "HTTPRoute shop/web",
        ),
        (
            "no backendRefs",
            json!([{"filters": []}]),
            "no rule has a backendRef",
        ),
    ];
    for (name, rules, needle) in cases {
        let err = route_weights(&route(rules), "web", "web-canary", 10)
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{name}: {err}");
    }
    let mut not_a_route = route(json!([]));
    not_a_route["kind"] = "GRPCRoute".into();
    assert!(matches!(
        route_weights(&not_a_route, "web", "web-canary", 10),
        Err(TrafficError::NotAnHttpRoute { .. })
    ));
    let mut no_rules = route(json!([]));
    no_rules["spec"] = json!({});
    assert!(matches!(
        route_weights(&no_rules, "web", "web-canary", 10),
        Err(TrafficError::NotAnHttpRoute { .. })
    ));
}
