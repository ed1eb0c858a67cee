use super::*;
use serde_json::json;

fn api(status: serde_json::Value) -> kube::Error {
    kube::Error::Api(Box::new(serde_json::from_value(status).unwrap()))
}

fn status(code: u16, reason: &str, message: &str) -> kube::Error {
    api(json!({"code": code, "reason": reason, "message": message, "status": "Failure"}))
}

const JOB_DUMP: &str = "Job.batch \"migrate\" is invalid: spec.template: Invalid value: core.PodTemplateSpec{ObjectMeta:v1.ObjectMeta{Name:\"\", Labels:map[string]string{\"app\":\"migrate\"}}, Spec:core.PodSpec{Containers:[]core.Container{core.Container{Name:\"migrate\", Image:\"ghcr.io/acme/migrate:2\"}}}}: field is immutable";

#[test]
fn errors_are_sorted_into_the_clusters_problems_and_the_contents() {
    let cases = [
        (
            "422 invalid",
            status(422, "Invalid", "spec.replicas: Invalid value: -1"),
            Fault::Content,
        ),
        (
            "400 bad request",
            status(400, "BadRequest", "error decoding"),
            Fault::Content,
        ),
        (
            "413 too large",
            status(413, "RequestEntityTooLarge", "limit is 3145728"),
            Fault::Content,
        ),
        (
            "500 typed patch",
            status(
                500,
                "InternalError",
                "failed to create typed patch object (apps/v1, Kind=Deployment): .spec.replicas: expected numeric (int or float), got string",
            ),
            Fault::Content,
        ),
        (
            "500 etcd too large",
            status(500, "InternalError", "etcdserver: request is too large"),
            Fault::Content,
        ),
        (
            "500 webhook timeout",
            status(
                500,
                "InternalError",
                "Internal error occurred: failed calling webhook \"v.example.com\": context deadline exceeded",
            ),
            Fault::Cluster,
        ),
        (
            "504 timeout",
            status(
                504,
                "Timeout",
                "the server was unable to return a response in the time allotted",
            ),
            Fault::Cluster,
        ),
        (
            "403 forbidden",
            status(
                403,
                "Forbidden",
                "unable to create new content in namespace web-dev because it is being terminated",
            ),
            Fault::Cluster,
        ),
        (
            "404 namespace",
            status(404, "NotFound", "namespaces \"web-dev\" not found"),
            Fault::Cluster,
        ),
        (
            "409 conflict",
            status(409, "Conflict", "the object has been modified"),
            Fault::Cluster,
        ),
        (
            "429 throttled",
            status(429, "TooManyRequests", "slow down"),
            Fault::Cluster,
        ),
        (
            "401 unauthorized",
            status(401, "Unauthorized", "Unauthorized"),
            Fault::Cluster,
        ),
        (
            "transport",
            kube::Error::ReadEvents(std::io::Error::other("connection reset")),
            Fault::Cluster,
        ),
    ];
    for (name, error, want) in cases {
        assert_eq!(fault_of(&error), want, "{name}");
    }
}

#[test]
fn the_immutable_field_is_read_from_causes_or_message() {
    let with_causes = api(
        json!({"code": 422, "reason": "Invalid", "message": JOB_DUMP,
        "details": {"name": "migrate", "group": "batch", "kind": "Job", "causes": [
            {"reason": "FieldValueInvalid", "message": "Invalid value: core.PodTemplateSpec{}: field is immutable", "field": "spec.template"}]}}),
    );
    let cases = [
        ("causes", with_causes, Some("spec.template")),
        (
            "message only",
            status(
                422,
                "Invalid",
                "Service \"web\" is invalid: spec.clusterIPs[0]: Invalid value: []string{\"10.96.0.9\"}: may not change once set",
            ),
            Some("spec.clusterIPs[0]"),
        ),
        (
            "other invalid",
            status(
                422,
                "Invalid",
                "Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0",
            ),
            None,
        ),
        (
            "not a 422",
            status(500, "InternalError", "field is immutable"),
            None,
        ),
    ];
    for (name, error, want) in cases {
        assert_eq!(immutable_field(&error).as_deref(), want, "{name}");
    }
}

#[test]
fn a_missing_namespace_is_told_by_the_details_kind() {
    let missing = api(
        json!({"code": 404, "reason": "NotFound", "message": "namespaces \"web-dev\" not found",
        "details": {"name": "web-dev", "kind": "namespaces"}}),
    );
    let other = api(
        json!({"code": 404, "reason": "NotFound", "message": "deployments.apps \"web\" not found",
        "details": {"name": "web", "group": "apps", "kind": "deployments"}}),
    );
    assert!(is_missing_namespace(&missing));
    assert!(!is_missing_namespace(&other));
}

#[test]
fn messages_fold_go_dumps_and_never_print_debug() {
    let error = status(422, "Invalid", JOB_DUMP);
    let line = server_message(&error);
    assert_eq!(
        line,
        "Job.batch \"migrate\" is invalid: spec.template: Invalid value: core.PodTemplateSpec{…}: field is immutable"
    );
    #[derive(Debug, thiserror::Error)]
    #[error("apply Job web-dev/migrate")]
    struct Apply(#[source] kube::Error);
    let chained = one_line(&Apply(status(422, "Invalid", JOB_DUMP)));
    assert!(
        chained.starts_with("apply Job web-dev/migrate: Job.batch"),
        "{chained}"
    );
    assert!(
        !chained.contains("Status {") && !chained.contains("ApiError"),
        "{chained}"
    );
    assert_eq!(
        chained.matches("field is immutable").count(),
        1,
        "{chained}"
    );
}

#[test]
fn lines_are_bounded_and_whitespace_is_one_space() {
    let cases = [
        ("short", "a  b\n c", 10, "a b c"),
        ("cut", "abcdefghijkl", 5, "abcd…"),
        ("short braces kept", "x: {a: 1}", 50, "x: {a: 1}"),
    ];
    for (name, text, max, want) in cases {
        assert_eq!(bounded(&condense(text), max), want, "{name}");
    }
    let long = "x".repeat(2000);
    assert_eq!(
        one_line(&std::io::Error::other(long)).chars().count(),
        MAX_LINE_CHARS
    );
}
