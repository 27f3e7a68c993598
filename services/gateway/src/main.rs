use std::process::ExitCode;

use storefront_gateway::{Config, build};

#[tokio::main]
async fn main() -> ExitCode {
    let info = storefront_common::cli::Info {
        name: "gateway",
        about: "the API gateway: routing, authentication, rate limits, the response cache and circuit breakers",
        version: env!("CARGO_PKG_VERSION"),
    };
    storefront_common::service::run(info, || async {
        let config = Config::from_env()?;
        Ok(build(config).await?)
    })
    .await
}
