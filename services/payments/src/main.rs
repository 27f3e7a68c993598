use std::process::ExitCode;

use storefront_payments::Config;

#[tokio::main]
async fn main() -> ExitCode {
    let info = storefront_common::cli::Info {
        name: "payments",
        about: "card payments, idempotent per order",
        version: env!("CARGO_PKG_VERSION"),
    };
    storefront_common::service::run(info, || async {
        let config = Config::from_env()?;
        Ok(storefront_payments::build(config).await?)
    })
    .await
}
