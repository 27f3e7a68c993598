use std::process::ExitCode;

use storefront_users::{Config, build};

#[tokio::main]
async fn main() -> ExitCode {
    storefront_common::service::run("users", || async {
        let config = Config::from_env()?;
        Ok(build(config).await?)
    })
    .await
}
