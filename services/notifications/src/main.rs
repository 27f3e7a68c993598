use std::process::ExitCode;

use storefront_notifications::Config;

#[tokio::main]
async fn main() -> ExitCode {
    storefront_common::service::run("notifications", || async {
        let config = Config::from_env()?;
        Ok(storefront_notifications::build(config).await?)
    })
    .await
}
