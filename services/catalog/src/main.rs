use std::process::ExitCode;

use storefront_catalog::Config;

#[tokio::main]
async fn main() -> ExitCode {
    let info = storefront_common::cli::Info {
        name: "catalog",
        about: "the product catalog: products, search and categories in PostgreSQL",
        version: env!("CARGO_PKG_VERSION"),
    };
    storefront_common::service::run(info, || async {
        let config = Config::from_env()?;
        Ok(storefront_catalog::build(config).await?)
    })
    .await
}
