//! `storefront-loadgen`: parses the command line (bad arguments exit 2), runs until the limit or
//! Ctrl-C, prints the report, and exits 0 for a completed run or 1 when setup failed.

use std::process::ExitCode;

use clap::Parser;
use storefront_loadgen::{Args, execute};

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let url = args.url.clone();
    // If the handler cannot be installed, never "interrupt": the run still ends at its limit.
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    match execute(args, interrupt).await {
        Ok(outcome) if outcome.users_ready == 0 => {
            eprintln!(
                "storefront-loadgen: setup failed: no virtual user could register and log in at {url} ({})",
                outcome
                    .first_setup_error
                    .as_deref()
                    .unwrap_or("interrupted before any did")
            );
            ExitCode::from(1)
        }
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("storefront-loadgen: {e}");
            ExitCode::from(1)
        }
    }
}
