use std::process::ExitCode;

use storefront_web::{Config, build};

#[tokio::main]
async fn main() -> ExitCode {
    let info = storefront_common::cli::Info {
        name: "web",
        about: "the store front, server-rendered HTML over the gateway",
        version: env!("CARGO_PKG_VERSION"),
    };
    storefront_common::service::run(info, || async {
        let config = Config::from_env()?;
        Ok(build(config).await?)
    })
    .await
}
