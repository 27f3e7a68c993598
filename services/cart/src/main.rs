use std::process::ExitCode;

use storefront_cart::Config;

#[tokio::main]
async fn main() -> ExitCode {
    let info = storefront_common::cli::Info {
        name: "cart",
        about: "the shopping cart, kept in Redis per user",
        version: env!("CARGO_PKG_VERSION"),
    };
    storefront_common::service::run(info, || async {
        let config = Config::from_env()?;
        Ok(storefront_cart::build(config).await?)
    })
    .await
}
