use std::process::ExitCode;

use storefront_cart::Config;

#[tokio::main]
async fn main() -> ExitCode {
    storefront_common::service::run("cart", || async {
        let config = Config::from_env()?;
        Ok(storefront_cart::build(config).await?)
    })
    .await
}
