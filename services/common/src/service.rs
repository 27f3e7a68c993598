//! The one way a service binary starts and stops: answer `--help`/`--version`, telemetry, build
//! the app from the environment, serve, and on SIGTERM/Ctrl-C stop in the order a load balancer
//! needs: `/readyz` answers 503 `draining` at once, the service keeps serving for the shutdown
//! delay (while endpoints are removed), then finishes requests in flight within the drain bound,
//! flushes traces and exits 0. Start-up failures exit non-zero with the reason.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

use crate::cli::{self, Info, Invocation};
use crate::config::{self, ConfigError, Source};

/// What a service's `build` step returns: its wrapped router and the address to listen on.
pub struct Built {
    pub router: Router,
    pub addr: SocketAddr,
}

pub type BuildError = Box<dyn std::error::Error + Send + Sync>;

/// How a service stops once asked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopping {
    /// `SHUTDOWN_DELAY_SECONDS`, default 0: keep accepting while `/readyz` says draining, for
    /// a platform whose endpoints are removed only after the pod is told to stop. Kubernetes'
    /// `preStop` sleep does the same before the signal; one or the other is enough.
    pub delay: Duration,
    /// `SHUTDOWN_DRAIN_SECONDS`, default 10: the longest requests in flight may take to finish
    /// after the listener closes. Keep delay + drain under the pod's grace period.
    pub drain: Duration,
}

impl Stopping {
    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        Ok(Self {
            delay: Duration::from_secs(config::or_default(src, "SHUTDOWN_DELAY_SECONDS", 0)?),
            drain: Duration::from_secs(config::or_default(src, "SHUTDOWN_DRAIN_SECONDS", 10)?),
        })
    }
}

/// Runs a service binary. `build` reads the environment, connects to its stores, migrates, and
/// returns the router; background tasks it spawns end with the runtime.
pub async fn run<F, Fut>(info: Info, build: F) -> ExitCode
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Built, BuildError>>,
{
    match cli::parse(&info, std::env::args().skip(1)) {
        Invocation::Run => {}
        Invocation::Help(text) | Invocation::Version(text) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Invocation::Refused(text) => {
            eprint!("{text}");
            return ExitCode::from(2);
        }
    }
    let service = info.name;
    let stopping = match Stopping::from_source(&config::ProcessEnv) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{service}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let telemetry = match crate::telemetry::init(service) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{service}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = match build().await {
        Ok(built) => match serve(built, stopping).await {
            Ok(()) => {
                tracing::info!("stopped");
                ExitCode::SUCCESS
            }
            Err(e) => {
                tracing::error!(error = %e, "serving failed");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            tracing::error!(error = %e, "start-up failed");
            ExitCode::FAILURE
        }
    };
    telemetry.shutdown();
    code
}

async fn serve(built: Built, stopping: Stopping) -> std::io::Result<()> {
    let listener = TcpListener::bind(built.addr).await.map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", built.addr))
    })?;
    serve_until_stopped(built.router, listener, stopping, crate::shutdown::signal()).await
}

/// Serves until `signal`, then stops as [`Stopping`] says. Returns early with the error when
/// serving fails by itself.
pub async fn serve_until_stopped(
    router: Router,
    listener: TcpListener,
    stopping: Stopping,
    signal: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let (close, closed) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(crate::http::serve_listener(router, listener, async move {
        let mut closed = closed;
        // An error means the sender is gone, which only happens once this function returns.
        let _ = closed.wait_for(|c| *c).await;
    }));
    tokio::pin!(server);
    tokio::select! {
        ended = &mut server => return joined(ended),
        () = signal => {}
    }
    crate::health::mark_draining();
    tracing::info!(
        delay_seconds = stopping.delay.as_secs(),
        drain_seconds = stopping.drain.as_secs(),
        "stop requested: /readyz answers 503 draining; serving through the delay, then \
         finishing requests in flight"
    );
    tokio::select! {
        ended = &mut server => return joined(ended),
        () = tokio::time::sleep(stopping.delay) => {}
    }
    // Ignored error: the receiver lives in the server task, which may have ended.
    let _ = close.send(true);
    match tokio::time::timeout(stopping.drain, &mut server).await {
        Ok(ended) => joined(ended),
        Err(_) => {
            tracing::warn!(
                drain_seconds = stopping.drain.as_secs(),
                "requests still in flight when the drain bound ran out; stopping without them"
            );
            Ok(())
        }
    }
}

fn joined(ended: Result<std::io::Result<()>, tokio::task::JoinError>) -> std::io::Result<()> {
    ended.map_err(std::io::Error::other)?
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn stopping_defaults_and_bad_values_name_the_variable() {
        assert_eq!(
            Stopping::from_source(&env(&[])).unwrap(),
            Stopping {
                delay: Duration::ZERO,
                drain: Duration::from_secs(10)
            }
        );
        let set = env(&[
            ("SHUTDOWN_DELAY_SECONDS", "5"),
            ("SHUTDOWN_DRAIN_SECONDS", "20"),
        ]);
        assert_eq!(Stopping::from_source(&set).unwrap().drain.as_secs(), 20);
        let err = Stopping::from_source(&env(&[("SHUTDOWN_DRAIN_SECONDS", "soon")])).unwrap_err();
        assert!(err.to_string().contains("SHUTDOWN_DRAIN_SECONDS"), "{err}");
    }
}
