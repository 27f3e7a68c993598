use std::process::ExitCode;

use storefront_gateway::{Config, build};

#[tokio::main]
async fn main() -> ExitCode {
    storefront_common::service::run("gateway", || async {
        let config = Config::from_env()?;
        Ok(build(config).await?)
    })
    .await
}
