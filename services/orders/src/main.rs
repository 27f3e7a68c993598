use std::process::ExitCode;

use storefront_orders::{Config, build};

#[tokio::main]
async fn main() -> ExitCode {
    let info = storefront_common::cli::Info {
        name: "orders",
        about: "checkout and the order saga (reserve, charge, confirm or compensate)",
        version: env!("CARGO_PKG_VERSION"),
    };
    storefront_common::service::run(info, || async {
        let config = Config::from_env()?;
        Ok(build(config).await?)
    })
    .await
}
