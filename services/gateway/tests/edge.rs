//! The gateway over real HTTP in front of recording stub backends: routing, authentication at the
//! edge, header hygiene, rate limiting, caching rules, retries, the circuit breaker and CORS.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use reqwest::Method;
use serde_json::json;
use storefront_common::auth::Role;
use storefront_gateway::Backend;
use support::{Stub, code, gateway, token};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn each_prefix_reaches_its_own_backend() {
    let mut stubs = Vec::new();
    for backend in Backend::ALL {
        stubs.push((backend, Stub::start(backend.name()).await));
    }
    let urls: Vec<(Backend, &str)> = stubs.iter().map(|(b, s)| (*b, s.url.as_str())).collect();
    let gw = gateway(&urls, &[]).await;
    let (_, t) = token(Role::Customer);
    for (path, expected) in [
        ("/api/users/profile", "users"),
        ("/api/products/42?x=1", "catalog"),
        ("/api/cart", "cart"),
        ("/api/orders/o1", "orders"),
        ("/api/payments/o1", "payments"),
        ("/api/inventory/p1", "inventory"),
        ("/api/notifications", "notifications"),
        ("/", "web"),
        ("/static/app.css", "web"),
        ("/products/p1", "web"),
    ] {
        let (status, _, body) = gw.get(path, Some(&t)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(body["backend"], expected, "{path}");
        assert_eq!(body["path"], path, "the path and query pass unchanged");
    }
}

#[tokio::test]
async fn a_platform_without_notifications_answers_its_routes_with_a_json_503() {
    let mut builder = storefront_testkit::app::TestApp::builder("gateway").redis();
    let nowhere = support::dead_url();
    for backend in Backend::ALL {
        if backend != Backend::Notifications {
            builder = builder.env(backend.url_variable(), nowhere.as_str());
        }
    }
    let gw = builder
        .start(|env| async move {
            let config = storefront_gateway::Config::from_source(&env)?;
            Ok(storefront_gateway::build(config).await?)
        })
        .await;
    let (_, t) = token(Role::Customer);
    let reply = gw.get("/api/notifications", Some(&t)).await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        reply.body
    );
    assert_ne!(reply.code(), "<no error code>");
}

#[tokio::test]
async fn internal_routes_are_not_found_and_never_forwarded() {
    let cart = Stub::start("cart").await;
    let web = Stub::start("web").await;
    let gw = gateway(&[(Backend::Cart, &cart.url), (Backend::Web, &web.url)], &[]).await;
    let (_, t) = token(Role::Admin);
    for path in ["/internal/carts/u1", "/internal", "/api/unknown"] {
        let (status, _, body) = gw.send(Method::DELETE, path, Some(&t), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(code(&body), "not_found");
    }

    // Dot segments would be resolved by the outgoing URL parser into /internal: refused raw.
    let address = gw.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let request = format!(
        "GET /api/cart/../../internal/carts/u1 HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {t}\r\nconnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(cart.calls() + web.calls(), 0);
}

#[tokio::test]
async fn protected_route_without_a_valid_token_is_refused_at_the_gateway() {
    let cart = Stub::start("cart").await;
    let gw = gateway(&[(Backend::Cart, &cart.url)], &[]).await;
    let (status, _, body) = gw.get("/api/cart", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "unauthorized");
    let (status, _, _) = gw.get("/api/cart", Some("not-a-jwt")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, service) = token(Role::Service);
    let (status, _, _) = gw.get("/api/cart", Some(&service)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "service tokens stay inside"
    );
    assert_eq!(cart.calls(), 0, "the backend was never called");
}

#[tokio::test]
async fn alg_none_token_is_refused() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let cart = Stub::start("cart").await;
    let gw = gateway(&[(Backend::Cart, &cart.url)], &[]).await;
    let header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = b64.encode(
        json!({"sub": storefront_common::ids::UserId::new().to_string(), "role": "admin",
               "iss": "storefront", "iat": 0, "exp": 9_999_999_999_i64, "jti": "x"})
        .to_string(),
    );
    let forged = format!("{header}.{claims}.");
    let (status, _, _) = gw.get("/api/cart", Some(&forged)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(cart.calls(), 0);
}

#[tokio::test]
async fn client_sent_identity_headers_are_replaced_by_the_token_subject() {
    let cart = Stub::start("cart").await;
    let catalog = Stub::start("catalog").await;
    let gw = gateway(
        &[(Backend::Cart, &cart.url), (Backend::Catalog, &catalog.url)],
        &[],
    )
    .await;
    let (user, t) = token(Role::Customer);
    let response = gw
        .http
        .get(gw.url("/api/cart"))
        .bearer_auth(&t)
        .header("x-user-id", "someone-else")
        .header("x-user-role", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let seen = &cart.seen()[0];
    assert_eq!(seen.headers["x-user-id"], user.to_string());
    assert_eq!(seen.headers["x-user-role"], "customer");
    assert_eq!(seen.headers["authorization"], format!("Bearer {t}"));
    assert_eq!(seen.headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen.headers["x-forwarded-proto"], "http");

    // Anonymous on a public route: the forged headers are simply gone.
    gw.http
        .get(gw.url("/api/products"))
        .header("x-user-id", "someone-else")
        .send()
        .await
        .unwrap();
    let seen = &catalog.seen()[0];
    assert!(
        !seen.headers.contains_key("x-user-id"),
        "{:?}",
        seen.headers
    );
    assert!(!seen.headers.contains_key("x-user-role"));
}

#[tokio::test]
async fn burst_over_the_limit_gets_429_with_retry_after() {
    let web = Stub::start("web").await;
    let gw = gateway(
        &[(Backend::Web, &web.url)],
        &[
            ("GATEWAY_RATE_LIMIT_IP", "1/m"),
            ("GATEWAY_RATE_LIMIT_BURST_IP", "3"),
        ],
    )
    .await;
    for remaining in ["2", "1", "0"] {
        let (status, headers, _) = gw.get("/", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["ratelimit-limit"], "3");
        assert_eq!(headers["ratelimit-remaining"], remaining);
        assert!(headers.contains_key("ratelimit-reset"));
    }
    let (status, headers, body) = gw.get("/", None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(code(&body), "rate_limited");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(headers["ratelimit-remaining"], "0");
    assert_eq!(
        web.calls(),
        3,
        "the refused request never reached the backend"
    );
}

#[tokio::test]
async fn a_refusal_remembered_in_process_answers_like_one_from_redis() {
    let web = Stub::start("web").await;
    let gw = gateway(
        &[(Backend::Web, &web.url)],
        &[
            ("GATEWAY_RATE_LIMIT_IP", "1/m"),
            ("GATEWAY_RATE_LIMIT_BURST_IP", "1"),
        ],
    )
    .await;
    assert_eq!(gw.get("/", None).await.0, StatusCode::OK);
    let (status, from_redis, body) = gw.get("/", None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, local, local_body) = gw.get("/", None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(code(&local_body), "rate_limited");
    assert_eq!(local_body, body);
    for header in [
        "retry-after",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
    ] {
        assert_eq!(local.get(header), from_redis.get(header), "{header}");
    }
    assert_eq!(local["retry-after"], "60");
    assert_eq!(web.calls(), 1);

    let metrics = gw.metrics().await;
    for tier in ["local", "redis"] {
        assert!(
            metrics.contains(&format!(r#"gateway_rate_limited_total{{tier="{tier}"}} 1"#)),
            "{metrics}"
        );
    }
}

#[tokio::test]
async fn per_user_limit_applies_to_the_token_subject() {
    let cart = Stub::start("cart").await;
    let gw = gateway(
        &[(Backend::Cart, &cart.url)],
        &[
            ("GATEWAY_RATE_LIMIT_USER", "1/m"),
            ("GATEWAY_RATE_LIMIT_BURST_USER", "2"),
        ],
    )
    .await;
    let (_, alice) = token(Role::Customer);
    let (_, bob) = token(Role::Customer);
    assert_eq!(gw.get("/api/cart", Some(&alice)).await.0, StatusCode::OK);
    assert_eq!(gw.get("/api/cart", Some(&alice)).await.0, StatusCode::OK);
    let (status, headers, _) = gw.get("/api/cart", Some(&alice)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(headers.contains_key("retry-after"));
    assert_eq!(gw.get("/api/cart", Some(&bob)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn personal_reads_are_never_cached() {
    let cart = Stub::start("cart").await;
    let gw = gateway(&[(Backend::Cart, &cart.url)], &[]).await;
    let (_, t) = token(Role::Customer);
    for n in 1..=2 {
        let (status, headers, body) = gw.get("/api/cart", Some(&t)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!headers.contains_key("x-cache"));
        assert_eq!(body["n"], n, "every read reached the cart");
    }
}

#[tokio::test]
async fn catalog_writes_are_not_cached() {
    let catalog = Stub::start("catalog").await;
    let gw = gateway(&[(Backend::Catalog, &catalog.url)], &[]).await;
    let (_, admin) = token(Role::Admin);
    for _ in 0..2 {
        let (status, headers, _) = gw
            .send(Method::POST, "/api/products", Some(&admin), Some(json!({})))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(!headers.contains_key("x-cache"));
    }
    assert_eq!(catalog.calls(), 2);
}

#[tokio::test]
async fn get_is_retried_on_a_flaky_backend_but_post_is_not() {
    // Fails every odd request with 503.
    let flaky = Stub::with(
        "cart",
        Arc::new(|n| {
            if n % 2 == 1 {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::OK
            }
        }),
    )
    .await;
    let gw = gateway(&[(Backend::Cart, &flaky.url)], &[]).await;
    let (_, t) = token(Role::Customer);
    let (status, _, body) = gw.get("/api/cart", Some(&t)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(flaky.calls(), 2, "one failure, one successful retry");

    let (status, _, _) = gw
        .send(
            Method::POST,
            "/api/cart/items",
            Some(&t),
            Some(json!({"quantity": 1})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "the 503 is relayed"
    );
    assert_eq!(flaky.calls(), 3, "the POST was sent once");
    let posted = &flaky.seen()[2];
    assert_eq!(posted.method, "POST");
    assert_eq!(posted.body, r#"{"quantity":1}"#);
}

#[tokio::test]
async fn unreachable_backend_is_a_json_503() {
    let gw = gateway(&[], &[]).await;
    let (_, t) = token(Role::Customer);
    let (status, _, body) = gw.get("/api/orders", Some(&t)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(code(&body), "backend_unreachable");
}

#[tokio::test]
async fn breaker_opens_after_failures_then_closes_when_the_backend_recovers() {
    let healthy = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = healthy.clone();
    let orders = Stub::with(
        "orders",
        Arc::new(move |_| {
            if flag.load(std::sync::atomic::Ordering::SeqCst) {
                StatusCode::OK
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }),
    )
    .await;
    let gw = gateway(
        &[(Backend::Orders, &orders.url)],
        &[
            ("GATEWAY_BREAKER_FAILURES", "3"),
            ("GATEWAY_BREAKER_OPEN", "1s"),
        ],
    )
    .await;
    let (_, t) = token(Role::Customer);
    for _ in 0..3 {
        let (status, _, _) = gw.send(Method::POST, "/api/orders", Some(&t), None).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    }
    let (status, headers, body) = gw.get("/api/orders", Some(&t)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(code(&body), "backend_unavailable");
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(
        orders.calls(),
        3,
        "an open breaker does not call the backend"
    );

    healthy.store(true, std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _, _) = gw.get("/api/orders", Some(&t)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the probe went through and closed it"
    );
    let (status, _, _) = gw.get("/api/orders", Some(&t)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(orders.calls(), 5);

    let metrics = gw.metrics().await;
    for (state, value) in [("closed", 1.0), ("half_open", 0.0), ("open", 0.0)] {
        assert_eq!(
            storefront_testkit::metric_sample(
                &metrics,
                "gateway_breaker_state",
                &[("backend", "orders"), ("state", state)]
            ),
            Some(value),
            "{metrics}"
        );
    }
    assert_eq!(
        storefront_testkit::metric_sample(
            &metrics,
            "gateway_breaker_opens_total",
            &[("backend", "orders")]
        ),
        Some(1.0),
        "{metrics}"
    );
    assert!(metrics.trim_end().ends_with("# EOF"));
}

#[tokio::test]
async fn cors_preflight_is_answered_for_listed_origins_only() {
    let cart = Stub::start("cart").await;
    let gw = gateway(
        &[(Backend::Cart, &cart.url)],
        &[("GATEWAY_CORS_ORIGINS", "https://shop.example")],
    )
    .await;
    let preflight = |origin: &'static str| {
        gw.http
            .request(Method::OPTIONS, gw.url("/api/cart/items"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let allowed = preflight("https://shop.example").await.unwrap();
    assert!(allowed.status().is_success());
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let methods = allowed.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(methods.contains("POST"), "{methods}");
    let other = preflight("https://evil.example").await.unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));
    assert_eq!(cart.calls(), 0, "preflights are answered by the gateway");
}

#[tokio::test]
async fn request_id_and_trace_context_reach_the_backend() {
    let _ = storefront_common::telemetry::init("gateway-test");
    let web = Stub::start("web").await;
    let gw = gateway(&[(Backend::Web, &web.url)], &[]).await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = gw
        .http
        .get(gw.url("/"))
        .header("x-request-id", "req-12345")
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "req-12345");
    let seen = &web.seen()[0];
    assert_eq!(seen.headers["x-request-id"], "req-12345");
    let traceparent = &seen.headers["traceparent"];
    assert!(traceparent.contains(trace_id), "{traceparent}");
    assert!(
        !traceparent.contains("00f067aa0ba902b7"),
        "the backend's parent is the gateway's span, not the client's"
    );
}

#[tokio::test]
async fn oversized_body_is_refused_with_413() {
    let cart = Stub::start("cart").await;
    let gw = gateway(&[(Backend::Cart, &cart.url)], &[]).await;
    let (_, t) = token(Role::Customer);
    let big = "x".repeat(8192);
    let (status, _, body) = gw
        .send(
            Method::POST,
            "/api/cart/items",
            Some(&t),
            Some(json!({"pad": big})),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code(&body), "payload_too_large");
    assert_eq!(cart.calls(), 0);
}

#[tokio::test]
async fn every_path_of_the_openapi_document_is_routed_to_its_backend() {
    let mut stubs = Vec::new();
    for backend in Backend::ALL {
        stubs.push((backend, Stub::start(backend.name()).await));
    }
    let urls: Vec<(Backend, &str)> = stubs.iter().map(|(b, s)| (*b, s.url.as_str())).collect();
    let gw = gateway(&urls, &[]).await;
    let (_, admin) = token(Role::Admin);

    let (status, headers, document) = gw.get("/api/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    let paths = document["paths"].as_object().expect("paths");
    let operations: usize = paths.values().map(|o| o.as_object().unwrap().len()).sum();
    assert!(
        operations >= 27,
        "the document lists the whole API: {operations}"
    );
    for (template, operations) in paths {
        if template == "/api/openapi.json" {
            continue;
        }
        let path = template
            .split('/')
            .map(|s| if s.starts_with('{') { "p1" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        for method in operations.as_object().unwrap().keys() {
            let method: Method = method.to_uppercase().parse().unwrap();
            let body = (method == Method::POST || method == Method::PUT).then(|| json!({}));
            let (status, _, answer) = gw.send(method.clone(), &path, Some(&admin), body).await;
            assert_eq!(status, StatusCode::OK, "{method} {path}: {answer}");
            assert_eq!(answer["path"], path.as_str(), "{method} {template}");
            let expected = storefront_gateway::resolve(&method, &path).unwrap().backend;
            assert_ne!(expected, Backend::Web, "{template} is an API path");
            assert_eq!(answer["backend"], expected.name(), "{method} {template}");
        }
    }
}

#[tokio::test]
async fn slow_backend_times_out_with_503_and_is_not_retried() {
    let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = calls.clone();
    let slow = axum::Router::new().fallback(move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(2)).await;
            "late"
        }
    });
    let url = storefront_common::service::spawn_local(slow).await.unwrap();
    let gw = gateway(
        &[(Backend::Inventory, &url)],
        &[("GATEWAY_TIMEOUT_INVENTORY", "200ms")],
    )
    .await;
    let started = std::time::Instant::now();
    let (status, _, body) = gw.get("/api/inventory/p1", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(code(&body), "backend_timeout");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn redis_outage_lets_public_reads_through_without_limits_or_cache() {
    let redis = storefront_testkit::RedisServer::start().unwrap();
    let catalog = Stub::start("catalog").await;
    let gw = gateway(
        &[(Backend::Catalog, &catalog.url)],
        &[
            ("REDIS_URL", &redis.url()),
            ("GATEWAY_RATE_LIMIT_IP", "1/m"),
            ("GATEWAY_RATE_LIMIT_BURST_IP", "1"),
        ],
    )
    .await;
    redis.stop();
    for _ in 0..3 {
        let (status, headers, body) = gw.get("/api/products", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            !headers.contains_key("ratelimit-limit"),
            "no verdict, no headers"
        );
        assert_eq!(headers["x-cache"], "MISS");
    }
    assert_eq!(catalog.calls(), 3);
    // Revocation cannot be checked without Redis: protected routes fail closed.
    let (_, t) = token(Role::Customer);
    let (status, _, _) = gw.get("/api/cart", Some(&t)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn a_hit_kept_in_memory_never_outlives_its_redis_entry() {
    let catalog = Stub::start("catalog").await;
    let gw = gateway(
        &[(Backend::Catalog, &catalog.url)],
        &[("GATEWAY_CACHE_TTL", "300ms")],
    )
    .await;
    let (_, first, _) = gw.get("/api/products?page=7", None).await;
    assert_eq!(first["x-cache"], "MISS");
    tokio::time::sleep(Duration::from_millis(50)).await;
    for _ in 0..3 {
        let (_, again, _) = gw.get("/api/products?page=7", None).await;
        assert_eq!(again["x-cache"], "HIT");
    }
    assert_eq!(catalog.calls(), 1);
    // Past the 300 ms TTL, though well inside the in-memory level's own one second.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_, expired, _) = gw.get("/api/products?page=7", None).await;
    assert_eq!(expired["x-cache"], "MISS");
    assert_eq!(catalog.calls(), 2);
}

/// One anonymous request as an ingress proxy on loopback would forward it: `x-forwarded-for`
/// ends with the address the ingress saw.
async fn via_ingress(gw: &support::Gateway, forwarded_for: &str) -> StatusCode {
    gw.app
        .http
        .get(gw.app.url("/"))
        .header("x-forwarded-for", forwarded_for)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn behind_a_trusted_ingress_each_client_has_its_own_bucket_and_cannot_pick_one() {
    let web = Stub::start("web").await;
    let gw = gateway(
        &[(Backend::Web, &web.url)],
        &[
            ("GATEWAY_TRUSTED_PROXIES", "127.0.0.0/8, ::1/128"),
            ("GATEWAY_RATE_LIMIT_IP", "1/m"),
            ("GATEWAY_RATE_LIMIT_BURST_IP", "2"),
        ],
    )
    .await;
    let a = "198.51.100.1";
    assert_eq!(via_ingress(&gw, a).await, StatusCode::OK);
    assert_eq!(via_ingress(&gw, a).await, StatusCode::OK);
    assert_eq!(via_ingress(&gw, a).await, StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same ingress is not refused for the first one's flood.
    assert_eq!(via_ingress(&gw, "198.51.100.2").await, StatusCode::OK);
    // The refused client writes a fresh address at the left; the ingress appends the real one.
    let forged = format!("203.0.113.77, {a}");
    assert_eq!(
        via_ingress(&gw, &forged).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let seen = web.seen();
    assert_eq!(seen.len(), 3, "refused requests never reached the backend");
    let forwarded = &seen[2].headers["x-forwarded-for"];
    assert!(
        forwarded.starts_with("198.51.100.2, 127.0.0.1")
            || forwarded.starts_with("198.51.100.2, ::1"),
        "the backend sees the chain plus the ingress: {forwarded}"
    );
}

#[tokio::test]
async fn without_trusted_proxies_a_forwarded_for_header_changes_nothing() {
    let web = Stub::start("web").await;
    let gw = gateway(
        &[(Backend::Web, &web.url)],
        &[
            ("GATEWAY_RATE_LIMIT_IP", "1/m"),
            ("GATEWAY_RATE_LIMIT_BURST_IP", "2"),
        ],
    )
    .await;
    // A client rotating forged addresses still shares the bucket of its socket address.
    assert_eq!(via_ingress(&gw, "198.51.100.1").await, StatusCode::OK);
    assert_eq!(via_ingress(&gw, "198.51.100.2").await, StatusCode::OK);
    assert_eq!(
        via_ingress(&gw, "198.51.100.3").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let seen = web.seen();
    let forwarded = &seen[1].headers["x-forwarded-for"];
    assert!(
        !forwarded.contains("198.51.100"),
        "the forged hop is dropped: {forwarded}"
    );
}
