use std::process::ExitCode;

use storefront_notifications::Config;

#[tokio::main]
async fn main() -> ExitCode {
    let info = storefront_common::cli::Info {
        name: "notifications",
        about: "order e-mails, from the order events on the message bus",
        version: env!("CARGO_PKG_VERSION"),
    };
    storefront_common::service::run(info, || async {
        let config = Config::from_env()?;
        Ok(storefront_notifications::build(config).await?)
    })
    .await
}
