//! The gateway in front of the real users and catalog services (throwaway PostgreSQL and Redis):
//! accounts through the gateway, logout honoured at the edge, and the catalog read cache.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use std::time::Duration;

use axum::http::StatusCode;
use reqwest::Method;
use serde_json::json;
use storefront_gateway::Backend;
use storefront_testkit::app::TestApp;
use storefront_testkit::shared_redis;
use support::{Stub, code, gateway};

async fn users(redis_url: &str) -> String {
    let users = TestApp::builder("gwusers")
        .postgres()
        .redis_url(redis_url)
        .start(|env| async move {
            let config = storefront_users::Config::from_source(&env)?;
            Ok(storefront_users::build(config).await?)
        })
        .await;
    users.base
}

async fn catalog() -> String {
    let catalog = TestApp::builder("gwcatalog")
        .postgres()
        .redis()
        .env("STOREFRONT_SEED_DEMO", "true")
        .start(|env| async move {
            let config = storefront_catalog::Config::from_source(&env)?;
            Ok(storefront_catalog::build(config).await?)
        })
        .await;
    catalog.base
}

#[tokio::test]
async fn register_login_profile_and_logout_through_the_gateway() {
    // Users and the gateway share the denylist's Redis, as in the platform.
    let redis_url = shared_redis().fresh_url();
    let users_url = users(&redis_url).await;
    let cart = Stub::start("cart").await;
    let gw = gateway(
        &[(Backend::Users, &users_url), (Backend::Cart, &cart.url)],
        &[("REDIS_URL", &redis_url)],
    )
    .await;

    let (status, _, user) = gw
        .send(
            Method::POST,
            "/api/users/register",
            None,
            Some(
                json!({"email": "grace@example.com", "password": "correct horse", "name": "Grace"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let (status, _, login) = gw
        .send(
            Method::POST,
            "/api/users/login",
            None,
            Some(json!({"email": "grace@example.com", "password": "correct horse"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let token = login["token"].as_str().unwrap().to_string();

    let (status, _, profile) = gw.get("/api/users/profile", Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{profile}");
    assert_eq!(profile["email"], "grace@example.com");
    assert_eq!(gw.get("/api/cart", Some(&token)).await.0, StatusCode::OK);
    assert_eq!(
        cart.seen()[0].headers["x-user-id"],
        user["id"].as_str().unwrap()
    );

    let (status, _, _) = gw
        .send(Method::POST, "/api/users/logout", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, body) = gw.get("/api/cart", Some(&token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{body}"
    );
    assert_eq!(cart.calls(), 1, "the revoked token never reached the cart");

    let (status, _, body) = gw
        .send(
            Method::POST,
            "/api/users/login",
            None,
            Some(json!({"email": "grace@example.com", "password": "wrong"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "invalid_credentials");
}

#[tokio::test]
async fn catalog_reads_are_cached_briefly_per_normalised_query() {
    let catalog_url = catalog().await;
    let gw = gateway(
        &[(Backend::Catalog, &catalog_url)],
        &[("GATEWAY_CACHE_TTL", "1s")],
    )
    .await;
    let first = "/api/products?pageSize=2&sort=price";
    let (status, headers, miss) = gw.get(first, None).await;
    assert_eq!(status, StatusCode::OK, "{miss}");
    assert_eq!(headers["x-cache"], "MISS");
    assert_eq!(miss["pageSize"], 2);

    // The cache is written in the background; give it a moment.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, headers, hit) = gw.get("/api/products?sort=price&pageSize=2", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers["x-cache"], "HIT",
        "same query, other parameter order"
    );
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(hit, miss);

    let (_, headers, _) = gw.get("/api/products?pageSize=3&sort=price", None).await;
    assert_eq!(headers["x-cache"], "MISS", "another query");

    let (status, headers, _) = gw.get("/api/products/not-a-product", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers["x-cache"], "MISS");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (_, headers, _) = gw.get("/api/products/not-a-product", None).await;
    assert_eq!(headers["x-cache"], "MISS", "errors are not cached");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, headers, _) = gw.get(first, None).await;
    assert_eq!(headers["x-cache"], "MISS", "after the TTL");

    let metrics = gw.metrics().await;
    assert!(
        metrics.contains(r#"gateway_cache_lookups_total{result="hit"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn health_and_readiness_come_from_the_shared_stack() {
    let gw = gateway(&[], &[]).await;
    let (status, _, _) = gw.get("/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = gw.get("/readyz", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["checks"]["redis"], "ok");
}
