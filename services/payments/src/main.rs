use std::process::ExitCode;

use storefront_payments::Config;

#[tokio::main]
async fn main() -> ExitCode {
    storefront_common::service::run("payments", || async {
        let config = Config::from_env()?;
        Ok(storefront_payments::build(config).await?)
    })
    .await
}
