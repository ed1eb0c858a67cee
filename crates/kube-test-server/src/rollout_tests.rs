use serde_json::json;

use serde_json::Value;

use crate::resources::Workload;
use crate::rollout::plan::{Observed, plan};
use crate::rollout::*;

#[test]
fn image_tags_choose_the_outcome() {
    let rows: &[(&str, &[&str], RolloutOutcome)] = &[
        (
            "plain tag succeeds",
            &["registry.example/web:1.2.3"],
            RolloutOutcome::Succeed,
        ),
        ("fail tag", &["web:1.2-fail"], RolloutOutcome::Fail),
        ("crash tag", &["web:crash"], RolloutOutcome::Crash),
        ("hang tag", &["web:hang-1"], RolloutOutcome::Hang),
        (
            "bad image tag",
            &["web:2-badimage"],
            RolloutOutcome::BadImage,
        ),
        (
            "crash wins over fail",
            &["a:fail", "b:crash"],
            RolloutOutcome::Crash,
        ),
        (
            "registry port is not a tag",
            &["localhost:5000/fail/web"],
            RolloutOutcome::Succeed,
        ),
        (
            "digest is not a tag",
            &["web@sha256:fail"],
            RolloutOutcome::Succeed,
        ),
    ];
    for (case, images, expected) in rows {
        assert_eq!(outcome_for_images(images), *expected, "{case}");
    }
}

#[test]
fn overrides_win_over_the_tag_rule() {
    let outcomes = Outcomes::default();
    let workload =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "web:1"}]}}}});
    outcomes.set_global(Some(RolloutOutcome::Hang));
    outcomes.set_for("shop", "web", Some(RolloutOutcome::Fail));
    assert_eq!(
        outcomes.choose("shop", "web", &workload),
        RolloutOutcome::Fail
    );
    assert_eq!(
        outcomes.choose("shop", "db", &workload),
        RolloutOutcome::Hang
    );
    outcomes.set_global(None);
    assert_eq!(
        outcomes.choose("shop", "db", &workload),
        RolloutOutcome::Succeed
    );
}

fn deployment() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "web", "namespace": "shop", "uid": "u1", "generation": 3},
           "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "web:1"}]}}}})
}

fn condition<'a>(status: &'a Value, kind: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == kind))
        .unwrap_or(&Value::Null)
}

#[test]
fn deployment_status_follows_the_outcome() {
    let observed = Observed {
        workload: deployment(),
        replica_sets: vec![],
        pods: vec![],
    };
    let rows: &[(&str, RolloutOutcome, bool, &str, &str, i64)] = &[
        (
            "first step progresses",
            RolloutOutcome::Succeed,
            false,
            "True",
            "ReplicaSetUpdated",
            0,
        ),
        (
            "success completes",
            RolloutOutcome::Succeed,
            true,
            "True",
            "NewReplicaSetAvailable",
            2,
        ),
        (
            "failure exceeds the deadline",
            RolloutOutcome::Fail,
            true,
            "False",
            "ProgressDeadlineExceeded",
            0,
        ),
        (
            "crash keeps progressing unavailable",
            RolloutOutcome::Crash,
            true,
            "True",
            "ReplicaSetUpdated",
            0,
        ),
    ];
    for (case, outcome, finished, status, reason, available) in rows {
        let plan = plan(Workload::Deployment, &observed, *outcome, *finished, "now");
        let progressing = condition(&plan.status, "Progressing");
        assert_eq!(progressing["status"], json!(status), "{case}");
        assert_eq!(progressing["reason"], json!(reason), "{case}");
        assert_eq!(plan.status["observedGeneration"], json!(3), "{case}");
        assert_eq!(
            plan.status
                .get("availableReplicas")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            *available,
            "{case}"
        );
    }
}

#[test]
fn crashing_pods_say_crash_loop_back_off_and_belong_to_the_workload() {
    let observed = Observed {
        workload: deployment(),
        replica_sets: vec![],
        pods: vec![],
    };
    let plan = plan(
        Workload::Deployment,
        &observed,
        RolloutOutcome::Crash,
        true,
        "now",
    );
    let pods: Vec<&Value> = plan.objects.iter().filter(|o| o["kind"] == "Pod").collect();
    let replica_set = plan
        .objects
        .iter()
        .find(|o| o["kind"] == "ReplicaSet")
        .cloned()
        .unwrap_or_default();
    assert_eq!(pods.len(), 2);
    for pod in pods {
        assert_eq!(
            pod.pointer("/status/containerStatuses/0/state/waiting/reason"),
            Some(&json!("CrashLoopBackOff"))
        );
        assert_eq!(pod.pointer("/metadata/labels/app"), Some(&json!("web")));
        assert_eq!(
            pod.pointer("/metadata/ownerReferences/0/uid"),
            replica_set.pointer("/metadata/uid")
        );
    }
    assert_eq!(
        replica_set.pointer("/metadata/ownerReferences/0/uid"),
        Some(&json!("u1"))
    );
}

#[test]
fn job_status_completes_or_fails() {
    let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate", "namespace": "shop", "uid": "j1"},
                     "spec": {"template": {"spec": {"containers": [{"name": "m", "image": "m:1"}]}}}});
    let observed = Observed {
        workload: job,
        replica_sets: vec![],
        pods: vec![],
    };
    let rows: &[(&str, RolloutOutcome, &str, &str)] = &[
        (
            "success",
            RolloutOutcome::Succeed,
            "Complete",
            "CompletionsReached",
        ),
        (
            "failure",
            RolloutOutcome::Fail,
            "Failed",
            "BackoffLimitExceeded",
        ),
    ];
    for (case, outcome, kind, reason) in rows {
        let plan = plan(Workload::Job, &observed, *outcome, true, "now");
        assert_eq!(
            condition(&plan.status, kind)["reason"],
            json!(reason),
            "{case}"
        );
    }
}
