use std::process::ExitCode;

use storefront_inventory::Config;

#[tokio::main]
async fn main() -> ExitCode {
    storefront_common::service::run("inventory", || async {
        let config = Config::from_env()?;
        Ok(storefront_inventory::build(config).await?)
    })
    .await
}
