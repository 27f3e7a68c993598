//! `storefront-loadgen`: parses the command line (bad arguments exit 2), then either runs until
//! the limit or Ctrl-C and prints the report (exit 0 for a completed run, 1 when setup failed),
//! or, with `--mode serve`, serves the load until SIGTERM (exit 0, or 1 when it cannot serve).

use std::process::ExitCode;

use clap::Parser;
use storefront_loadgen::{Args, Mode, execute, serve};

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(e) = args.check() {
        e.exit();
    }
    match args.mode {
        Mode::Run => run(args).await,
        Mode::Serve => serve_until_stopped(args).await,
    }
}

async fn run(args: Args) -> ExitCode {
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

async fn serve_until_stopped(args: Args) -> ExitCode {
    let telemetry = match storefront_common::telemetry::init("loadgen") {
        Ok(t) => t,
        Err(e) => {
            eprintln!("storefront-loadgen: {e}");
            return ExitCode::from(1);
        }
    };
    let listen = args.listen;
    let code = match tokio::net::TcpListener::bind(listen).await {
        Err(e) => {
            tracing::error!(error = %e, addr = %listen, "cannot listen");
            ExitCode::from(1)
        }
        Ok(listener) => {
            let config = args.into_serve_config();
            match serve(config, listener, storefront_common::shutdown::signal()).await {
                Ok(()) => {
                    tracing::info!("stopped");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    tracing::error!(error = %e, "serving failed");
                    ExitCode::from(1)
                }
            }
        }
    };
    telemetry.shutdown();
    code
}
