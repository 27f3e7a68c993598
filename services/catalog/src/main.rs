use std::process::ExitCode;

use storefront_catalog::Config;

#[tokio::main]
async fn main() -> ExitCode {
    storefront_common::service::run("catalog", || async {
        let config = Config::from_env()?;
        Ok(storefront_catalog::build(config).await?)
    })
    .await
}
