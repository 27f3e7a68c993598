//! `storefront-e2e-fault`: a deliberately broken service version for the canary rollback test.
//!
//! It is healthy (`/healthz`, `/readyz` answer 200, so the canary's pods become ready and get
//! traffic) and answers every other request with a 500 in the services' error format, so the
//! canary analysis sees a 0 % success rate and must roll it back.

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;

async fn ok() -> &'static str {
    "ok"
}

async fn fail() -> impl IntoResponse {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [("content-type", "application/json")],
        r#"{"error":{"code":"injected_fault","message":"this version fails on purpose (storefront-e2e-fault)"}}"#,
    )
}

/// SIGTERM (what Kubernetes sends) or Ctrl-C.
async fn stop_signal() {
    #[cfg(unix)]
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        return;
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::var("STOREFRONT_HTTP_ADDR").unwrap_or_else(|_| "0.0.0.0:8080".into());
    let app = Router::new()
        .route("/healthz", get(ok))
        .route("/readyz", get(ok))
        .fallback(fail);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("storefront-e2e-fault: answering 500 on {addr}");
    axum::serve(listener, app)
        .with_graceful_shutdown(stop_signal())
        .await?;
    Ok(())
}
