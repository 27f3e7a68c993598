use std::process::ExitCode;

use storefront_orders::{Config, build};

#[tokio::main]
async fn main() -> ExitCode {
    storefront_common::service::run("orders", || async {
        let config = Config::from_env()?;
        Ok(build(config).await?)
    })
    .await
}
