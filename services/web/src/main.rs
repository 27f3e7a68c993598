use std::process::ExitCode;

use storefront_web::{Config, build};

#[tokio::main]
async fn main() -> ExitCode {
    storefront_common::service::run("web", || async {
        let config = Config::from_env()?;
        Ok(build(config).await?)
    })
    .await
}
