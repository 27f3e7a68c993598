//! The shared inter-service client passes answers on as they are.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use storefront_common::client::http_client;
use storefront_common::service::spawn_local;

#[tokio::test]
async fn a_redirect_and_its_cookie_are_relayed_not_followed() {
    let app = Router::new()
        .route(
            "/register",
            post(|| async {
                (
                    StatusCode::SEE_OTHER,
                    [
                        (header::LOCATION, "/"),
                        (header::SET_COOKIE, "sf_session=abc; HttpOnly"),
                    ],
                )
                    .into_response()
            }),
        )
        .route("/", axum::routing::get(|| async { "home page" }));
    let base = spawn_local(app).await.unwrap();
    let resp = http_client(std::time::Duration::from_secs(5))
        .post(format!("{base}/register"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        resp.headers()[header::SET_COOKIE],
        "sf_session=abc; HttpOnly"
    );
}
