//! The one way a service binary starts and stops: telemetry, build the app from the environment,
//! serve with graceful shutdown on SIGTERM/Ctrl-C, flush traces, exit non-zero with the reason
//! when start-up fails.

use std::net::SocketAddr;
use std::process::ExitCode;

use axum::Router;

/// What a service's `build` step returns: its wrapped router and the address to listen on.
pub struct Built {
    pub router: Router,
    pub addr: SocketAddr,
}

pub type BuildError = Box<dyn std::error::Error + Send + Sync>;

/// Runs a service binary. `build` reads the environment, connects to its stores, migrates, and
/// returns the router; background tasks it spawns end with the runtime.
pub async fn run<F, Fut>(service: &'static str, build: F) -> ExitCode
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Built, BuildError>>,
{
    let telemetry = match crate::telemetry::init(service) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{service}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = match build().await {
        Ok(built) => {
            match crate::http::serve(built.router, built.addr, crate::shutdown::signal()).await {
                Ok(()) => {
                    tracing::info!("stopped");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    tracing::error!(error = %e, addr = %built.addr, "serving failed");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "start-up failed");
            ExitCode::FAILURE
        }
    };
    telemetry.shutdown();
    code
}

/// Serves `router` on a random loopback port in the background and returns its base URL.
/// For tests and the local platform, which run several services in one process.
pub async fn spawn_local(router: Router) -> std::io::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = crate::http::serve_listener(router, listener, std::future::pending()).await
        {
            tracing::error!(error = %e, "test server stopped");
        }
    });
    Ok(format!("http://{addr}"))
}
