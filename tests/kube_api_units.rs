//! Unit tests of the Kubernetes API test server's pure parts: field sets,
//! merging, managed fields and conflicts, selectors, rollout plans. They
//! live in their own binary so that tests including `support` do not re-run them.

#[path = "support/kube_api/mod.rs"]
mod kube_api;

#[path = "support/kube_api/fieldset_tests.rs"]
mod fieldset_tests;
#[path = "support/kube_api/managed_tests.rs"]
mod managed_tests;
#[path = "support/kube_api/merge_tests.rs"]
mod merge_tests;
#[path = "support/kube_api/quantity_tests.rs"]
mod quantity_tests;
#[path = "support/kube_api/rollout_tests.rs"]
mod rollout_tests;
#[path = "support/kube_api/selectors_tests.rs"]
mod selectors_tests;
#[path = "support/kube_api/writes_tests.rs"]
mod writes_tests;
