use std::process::ExitCode;

use storefront_inventory::Config;

#[tokio::main]
async fn main() -> ExitCode {
    let info = storefront_common::cli::Info {
        name: "inventory",
        about: "stock and reservations, which never oversell",
        version: env!("CARGO_PKG_VERSION"),
    };
    storefront_common::service::run(info, || async {
        let config = Config::from_env()?;
        Ok(storefront_inventory::build(config).await?)
    })
    .await
}
