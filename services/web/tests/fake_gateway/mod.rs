//! A fake public API for the web front's tests: canned answers for the routes the pages call,
//! and a log of every request it got (path, query, token, idempotency key, body) so a test can
//! assert what the web front sent.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

pub const TOKEN: &str = "fake.jwt.token";
pub const PASSWORD: &str = "correct horse";
pub const ORDER_ID: &str = "0e5c1f9a-1111-4c1e-9a55-5f0a43b19c5e";
pub const NOTIFICATION_ID: &str = "7d1e2c3b-2222-4c1e-9a55-5f0a43b19c5e";
/// The product whose name tries to inject markup into the page.
pub const SNEAKY_NAME: &str = "<script>alert(1)</script> Mug";

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub token: Option<String>,
    pub idempotency_key: Option<String>,
    pub body: Value,
}

#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<Seen>>>);

impl Log {
    pub fn all(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }

    pub fn find(&self, method: Method, path: &str) -> Vec<Seen> {
        self.all()
            .into_iter()
            .filter(|s| s.method == method && s.path == path)
            .collect()
    }
}

/// Starts the fake on a random port; returns its base URL and its request log.
pub async fn start() -> (String, Log) {
    let log = Log::default();
    let app = Router::new()
        .route("/api/products", get(products))
        .route("/api/products/categories", get(categories))
        .route("/api/products/{id}", get(product))
        .route("/api/inventory/{id}", get(stock))
        .route("/api/users/login", post(login))
        .route("/api/users/register", post(register))
        .route("/api/users/logout", post(logout))
        .route("/api/cart", get(cart))
        .route("/api/cart/items", post(add_item))
        .route(
            "/api/cart/items/{id}",
            axum::routing::put(add_item).delete(add_item),
        )
        .route("/api/orders", post(place_order).get(orders))
        .route("/api/orders/{id}", get(order))
        .route("/api/orders/{id}/cancel", post(cancel_order))
        .route("/api/notifications", get(notifications))
        .route("/api/notifications/{id}/read", post(mark_read))
        .layer(axum::middleware::from_fn_with_state(log.clone(), record))
        .with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), log)
}

async fn record(
    State(log): State<Log>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    log.0.lock().unwrap().push(Seen {
        method: parts.method.clone(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        token: header("authorization").and_then(|a| a.strip_prefix("Bearer ").map(str::to_string)),
        idempotency_key: header("idempotency-key"),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    });
    let req = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
    next.run(req).await
}

fn error(status: StatusCode, code: &str, details: Option<Value>) -> Response {
    let mut body = json!({"error": {"code": code, "message": format!("fake {code}")}});
    if let Some(d) = details {
        body["error"]["details"] = d;
    }
    (status, Json(body)).into_response()
}

fn authorised(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
}

fn usd(amount: i64) -> Value {
    json!({"amount": amount, "currency": "USD"})
}

fn product_json(id: &str, name: &str, category: &str, cents: i64) -> Value {
    json!({
        "id": id, "name": name, "description": format!("About {name}"), "category": category,
        "price": usd(cents), "imageUrl": format!("/static/img/{category}.svg"),
        "createdAt": "2024-01-01T00:00:00Z", "updatedAt": "2024-01-01T00:00:00Z"
    })
}

async fn products(uri: Uri) -> Json<Value> {
    let page: u32 = uri
        .query()
        .and_then(|q| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix("page="))
                .and_then(|p| p.parse().ok())
        })
        .unwrap_or(1);
    Json(json!({
        "items": [
            product_json("p-in", "AeroPress Coffee Maker", "kitchen", 3495),
            product_json("p-sneaky", SNEAKY_NAME, "kitchen", 123_456),
        ],
        "total": 30, "page": page, "pageSize": 12
    }))
}

async fn categories() -> Json<Value> {
    Json(json!({"items": [{"name": "kitchen", "count": 5}, {"name": "books", "count": 3}]}))
}

async fn product(Path(id): Path<String>) -> Response {
    match id.as_str() {
        "p-in" | "p-low" | "p-out" => {
            Json(product_json(&id, &format!("Product {id}"), "books", 1999)).into_response()
        }
        _ => error(StatusCode::NOT_FOUND, "not_found", None),
    }
}

async fn stock(Path(id): Path<String>) -> Response {
    let available = match id.as_str() {
        "p-in" => 40,
        "p-low" => 3,
        "p-out" => 0,
        _ => return error(StatusCode::NOT_FOUND, "not_found", None),
    };
    Json(json!({"productId": id, "available": available, "reserved": 0})).into_response()
}

async fn login(Json(body): Json<Value>) -> Response {
    if body["password"] == PASSWORD {
        let expires = chrono::Utc::now() + chrono::Duration::hours(1);
        Json(json!({"token": TOKEN, "expiresAt": expires.to_rfc3339(), "user": {"id": "u1"}}))
            .into_response()
    } else {
        error(StatusCode::UNAUTHORIZED, "invalid_credentials", None)
    }
}

async fn register(Json(body): Json<Value>) -> Response {
    if body["email"] == "taken@example.com" {
        return error(StatusCode::CONFLICT, "email_taken", None);
    }
    (
        StatusCode::CREATED,
        Json(json!({"id": "u2", "email": body["email"]})),
    )
        .into_response()
}

async fn logout(headers: HeaderMap) -> Response {
    if authorised(&headers) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        error(StatusCode::UNAUTHORIZED, "unauthorized", None)
    }
}

fn cart_json() -> Value {
    json!({
        "items": [{
            "productId": "p-in", "name": "AeroPress Coffee Maker", "imageUrl": "/static/img/kitchen.svg",
            "unitPrice": usd(3495), "quantity": 2, "lineTotal": usd(6990)
        }],
        "itemCount": 2, "total": usd(6990)
    })
}

async fn cart(headers: HeaderMap) -> Response {
    if !authorised(&headers) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized", None);
    }
    Json(cart_json()).into_response()
}

async fn add_item(headers: HeaderMap) -> Response {
    if !authorised(&headers) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized", None);
    }
    Json(cart_json()).into_response()
}

fn order_json(status: &str, failure: Option<&str>) -> Value {
    json!({
        "id": ORDER_ID, "userId": "u1", "status": status,
        "items": [{"productId": "p-in", "name": "AeroPress Coffee Maker", "unitPrice": usd(3495),
                   "quantity": 2, "lineTotal": usd(6990)}],
        "total": usd(6990), "failureReason": failure,
        "createdAt": "2024-03-05T14:07:00Z", "updatedAt": "2024-03-05T14:07:00Z"
    })
}

/// The card number picks the outcome, like the real payments mock.
async fn place_order(headers: HeaderMap, body: Bytes) -> Response {
    if !authorised(&headers) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized", None);
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    match body["payment"]["cardNumber"].as_str().unwrap_or_default() {
        "4242 4242 4242 4242" | "4242424242424242" => {
            (StatusCode::CREATED, Json(order_json("paid", None))).into_response()
        }
        "4000 0000 0000 0002" => error(StatusCode::PAYMENT_REQUIRED, "payment_declined", None),
        "4111 1111 1111 1111" => error(
            StatusCode::CONFLICT,
            "out_of_stock",
            Some(json!({"products": [{"productId": "p-in", "requested": 2, "available": 1}]})),
        ),
        "4000 0000 0000 0503" => error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", None),
        _ => error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_card", None),
    }
}

async fn orders(headers: HeaderMap) -> Response {
    if !authorised(&headers) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized", None);
    }
    Json(json!({"items": [
        order_json("paid", None),
        order_json("failed", Some("card_declined")),
        order_json("shipped", None),
    ]}))
    .into_response()
}

async fn order(headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !authorised(&headers) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized", None);
    }
    if id == ORDER_ID {
        Json(order_json("paid", None)).into_response()
    } else {
        error(StatusCode::NOT_FOUND, "not_found", None)
    }
}

async fn cancel_order(headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !authorised(&headers) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized", None);
    }
    if id == ORDER_ID {
        Json(order_json("cancelled", None)).into_response()
    } else {
        error(StatusCode::CONFLICT, "illegal_transition", None)
    }
}

fn notification_json(id: &str, title: &str, read: bool) -> Value {
    json!({
        "id": id,
        "orderId": ORDER_ID,
        "kind": "order.paid",
        "title": title,
        "body": "We received 25.99 USD for order 0e5c1f9a.",
        "read": read,
        "createdAt": "2024-03-05T14:07:00Z",
    })
}

async fn notifications(headers: HeaderMap) -> Response {
    if !authorised(&headers) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized", None);
    }
    Json(json!({"items": [
        notification_json(NOTIFICATION_ID, "Order confirmed", false),
        notification_json("7d1e2c3b-3333-4c1e-9a55-5f0a43b19c5e", "Order <b>shipped</b>", false),
        notification_json("7d1e2c3b-4444-4c1e-9a55-5f0a43b19c5e", "Order delivered", true),
    ], "unread": 2}))
    .into_response()
}

async fn mark_read(headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !authorised(&headers) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized", None);
    }
    if id == NOTIFICATION_ID {
        Json(notification_json(&id, "Order confirmed", true)).into_response()
    } else {
        error(StatusCode::NOT_FOUND, "not_found", None)
    }
}
