//! The install manifests render with `kubectl kustomize manifests/` and keep
//! the two roles apart: receive has no cluster access, each role mounts only
//! its own Secret, and every pod runs locked down.

use std::process::Command;

use serde_json::Value;

fn rendered() -> Vec<Value> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/manifests");
    let output = Command::new("kubectl")
        .args(["kustomize", dir])
        .output()
        .expect("kubectl is needed for this test (.ci/install-kubectl.sh installs it)");
    assert!(
        output.status.success(),
        "kubectl kustomize: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    serde_saphyr::from_multiple(&text).unwrap()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind}/{name} not rendered"))
}

fn pod_spec<'a>(docs: &'a [Value], name: &str) -> &'a Value {
    &find(docs, "Deployment", name)["spec"]["template"]["spec"]
}

/// Names of every Secret a pod spec mounts or reads from env.
fn secrets_used(spec: &Value) -> Vec<String> {
    let mut names: Vec<String> = spec["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["secret"]["secretName"].as_str().map(String::from))
        .collect();
    for container in spec["containers"].as_array().into_iter().flatten() {
        for env in container["env"].as_array().into_iter().flatten() {
            if let Some(name) = env["valueFrom"]["secretKeyRef"]["name"].as_str() {
                names.push(name.to_string());
            }
        }
    }
    names
}

#[test]
fn receive_has_no_cluster_access() {
    let docs = rendered();
    let sa = find(&docs, "ServiceAccount", "slipway-receive");
    assert_eq!(sa["automountServiceAccountToken"], false);
    assert_eq!(
        pod_spec(&docs, "slipway-receive")["automountServiceAccountToken"],
        false
    );
    for binding in docs
        .iter()
        .filter(|d| d["kind"] == "RoleBinding" || d["kind"] == "ClusterRoleBinding")
    {
        for subject in binding["subjects"].as_array().into_iter().flatten() {
            assert_ne!(
                subject["name"], "slipway-receive",
                "receive is bound by {}",
                binding["metadata"]["name"]
            );
        }
    }
}

#[test]
fn each_role_mounts_only_its_own_secret() {
    let docs = rendered();
    assert_eq!(
        secrets_used(pod_spec(&docs, "slipway-receive")),
        ["slipway-receive"]
    );
    assert_eq!(
        secrets_used(pod_spec(&docs, "slipway-sync")),
        ["slipway-sync"]
    );
    let receive_keys = find(&docs, "Secret", "slipway-receive")["stringData"]
        .as_object()
        .unwrap()
        .clone();
    let sync_keys = find(&docs, "Secret", "slipway-sync")["stringData"]
        .as_object()
        .unwrap()
        .clone();
    assert!(
        receive_keys.contains_key("git-write-token") && !sync_keys.contains_key("git-write-token")
    );
    assert!(
        sync_keys.contains_key("git-read-token") && !receive_keys.contains_key("git-read-token")
    );
    assert!(
        !sync_keys.contains_key("github-webhook-secret") && !sync_keys.contains_key("forge-token")
    );
}

#[test]
fn sync_rights_are_narrow() {
    let docs = rendered();
    let role = find(&docs, "ClusterRole", "slipway-sync");
    for rule in role["rules"].as_array().unwrap() {
        for field in ["apiGroups", "resources", "verbs"] {
            let values = rule[field].as_array().unwrap();
            assert!(
                !values.iter().any(|v| v == "*"),
                "wildcard {field} in {rule}"
            );
        }
        let resources = rule["resources"].as_array().unwrap();
        for forbidden in [
            "clusterroles",
            "clusterrolebindings",
            "roles",
            "rolebindings",
            "customresourcedefinitions",
        ] {
            assert!(
                !resources.iter().any(|r| r == forbidden),
                "sync may touch {forbidden}"
            );
        }
    }
    let leases = find(&docs, "Role", "slipway-sync-leases");
    assert_eq!(leases["metadata"]["namespace"], "slipway");
}

#[test]
fn sync_reads_pod_logs_and_pod_events_without_writing_them() {
    let docs = rendered();
    let role = find(&docs, "ClusterRole", "slipway-sync");
    let verbs_on = |group: &str, resource: &str| -> Vec<String> {
        role["rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                r["apiGroups"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|g| g == group)
            })
            .filter(|r| {
                r["resources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x == resource)
            })
            .flat_map(|r| r["verbs"].as_array().unwrap().clone())
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(verbs_on("", "pods/log"), ["get"]);
    assert_eq!(verbs_on("", "events"), ["list"]);
}

#[test]
fn every_pod_runs_locked_down_with_probes_and_requests() {
    let docs = rendered();
    for name in ["slipway-receive", "slipway-sync"] {
        let spec = pod_spec(&docs, name);
        assert_eq!(spec["securityContext"]["runAsNonRoot"], true, "{name}");
        assert_eq!(
            spec["securityContext"]["seccompProfile"]["type"], "RuntimeDefault",
            "{name}"
        );
        for container in spec["containers"].as_array().unwrap() {
            let sc = &container["securityContext"];
            assert_eq!(sc["readOnlyRootFilesystem"], true, "{name}");
            assert_eq!(sc["allowPrivilegeEscalation"], false, "{name}");
            assert_eq!(
                sc["capabilities"]["drop"],
                serde_json::json!(["ALL"]),
                "{name}"
            );
            assert!(
                container["readinessProbe"].is_object() && container["livenessProbe"].is_object(),
                "{name}"
            );
            assert!(
                container["resources"]["requests"]["memory"].is_string(),
                "{name}"
            );
        }
        find(&docs, "NetworkPolicy", name);
        find(&docs, "PodDisruptionBudget", name);
    }
    let cluster_scoped = ["Namespace", "ClusterRole", "ClusterRoleBinding"];
    for doc in &docs {
        let kind = doc["kind"].as_str().unwrap();
        assert!(
            cluster_scoped.contains(&kind) || doc["metadata"]["namespace"] == "slipway",
            "{kind} outside slipway"
        );
    }
}

#[test]
fn the_shipped_role_configs_parse() {
    let docs = rendered();
    for name in ["slipway-receive", "slipway-sync"] {
        let text = find(&docs, "ConfigMap", name)["data"]["config.yaml"]
            .as_str()
            .unwrap();
        slipway::config::Config::parse(text, name).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}
