pub mod kube_api;
