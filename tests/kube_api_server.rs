//! The Kubernetes API test server driven by the `kube` crate.

mod support;

use support::kube_api::KubeApiServer;

#[tokio::test]
async fn server_starts_and_reports_its_version() -> anyhow::Result<()> {
    let server = KubeApiServer::start().await?;
    let client = server.client()?;
    let version = client.apiserver_version().await?;
    assert_eq!(version.minor, "33");
    Ok(())
}
