//! The cart over HTTP, next to a real catalog (seeded with the demo products) on throwaway
//! PostgreSQL and Redis.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::HashMap;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use storefront_cart::{MAX_QUANTITY, cart_key};
use storefront_common::auth::Role;
use storefront_common::demo::PRODUCTS;
use storefront_common::ids::ProductId;
use storefront_testkit::app::{Caller, TestApp, caller, service_token, token, token_for};
use storefront_testkit::free_port;

async fn start_catalog() -> String {
    let catalog = TestApp::builder("cart_catalog")
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

/// The cart under test, and the catalog it prices from.
struct Shop {
    cart: TestApp,
    catalog: String,
}

async fn start_cart(catalog: String) -> Shop {
    let cart = TestApp::builder("cart")
        .redis()
        .env("CATALOG_URL", catalog.as_str())
        .env("CART_CATALOG_TIMEOUT", "1s")
        .start(|env| async move {
            let config = storefront_cart::Config::from_source(&env)?;
            Ok(storefront_cart::build(config).await?)
        })
        .await;
    Shop { cart, catalog }
}

async fn start() -> Shop {
    start_cart(start_catalog().await).await
}

/// A cart whose catalog is a port nobody listens on.
async fn start_without_catalog() -> Shop {
    start_cart(format!("http://127.0.0.1:{}", free_port())).await
}

type Customer = Caller;

fn customer() -> Customer {
    caller(Role::Customer)
}

impl Shop {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let reply = self.cart.send(method, path, token, body.as_ref()).await;
        (reply.status, reply.body)
    }

    async fn add(&self, who: &Customer, product: ProductId, quantity: i64) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            "/api/cart/items",
            Some(&who.token),
            Some(json!({"productId": product, "quantity": quantity})),
        )
        .await
    }

    async fn view(&self, who: &Customer) -> Value {
        let (status, body) = self
            .call(Method::GET, "/api/cart", Some(&who.token), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.cart.redis_url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }
}

fn quantities(cart: &Value) -> HashMap<String, i64> {
    cart["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["productId"].as_str().unwrap().to_string(),
                l["quantity"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_empty_cart_has_no_items_and_a_zero_total() {
    let shop = start().await;
    let cart = shop.view(&customer()).await;
    assert_eq!(
        cart,
        json!({"items": [], "itemCount": 0, "total": {"amount": 0, "currency": "USD"}})
    );
}

#[tokio::test]
async fn adding_prices_lines_with_current_catalog_prices() {
    let shop = start().await;
    let me = customer();
    let (kettle, book) = (&PRODUCTS[3], &PRODUCTS[5]);
    let (status, _) = shop.add(&me, kettle.id(), 2).await;
    assert_eq!(status, StatusCode::OK);
    let (status, cart) = shop.add(&me, book.id(), 1).await;
    assert_eq!(status, StatusCode::OK, "{cart}");

    assert_eq!(cart["itemCount"], 3);
    let total = kettle.price_cents * 2 + book.price_cents;
    assert_eq!(cart["total"], json!({"amount": total, "currency": "USD"}));
    let line = cart["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["productId"] == kettle.id().to_string())
        .unwrap();
    assert_eq!(line["name"], kettle.name);
    assert_eq!(line["imageUrl"], kettle.image_url());
    assert_eq!(line["unitPrice"]["amount"], kettle.price_cents);
    assert_eq!(line["lineTotal"]["amount"], kettle.price_cents * 2);
    assert_eq!(shop.view(&me).await, cart);
}

#[tokio::test]
async fn adding_the_same_product_again_adds_to_its_line() {
    let shop = start().await;
    let me = customer();
    let id = PRODUCTS[0].id();
    shop.add(&me, id, 2).await;
    let (_, cart) = shop.add(&me, id, 3).await;
    assert_eq!(quantities(&cart), HashMap::from([(id.to_string(), 5)]));
}

#[tokio::test]
async fn the_cart_lives_thirty_days_from_the_last_write() {
    let shop = start().await;
    let me = customer();
    shop.add(&me, PRODUCTS[0].id(), 1).await;
    let mut redis = shop.redis().await;
    let ttl: i64 = redis::cmd("TTL")
        .arg(cart_key(me.id))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(ttl > 29 * 24 * 3600 && ttl <= 30 * 24 * 3600, "{ttl}");
    let stored: HashMap<String, i64> = redis::cmd("HGETALL")
        .arg(cart_key(me.id))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(stored, HashMap::from([(PRODUCTS[0].id().to_string(), 1)]));
}

#[tokio::test]
async fn setting_a_quantity_replaces_it_and_zero_removes_the_line() {
    let shop = start().await;
    let me = customer();
    let (a, b) = (PRODUCTS[1].id(), PRODUCTS[2].id());
    shop.add(&me, a, 1).await;
    shop.add(&me, b, 1).await;
    let path = format!("/api/cart/items/{a}");
    let (status, cart) = shop
        .call(
            Method::PUT,
            &path,
            Some(&me.token),
            Some(json!({"quantity": 7})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cart}");
    assert_eq!(quantities(&cart)[&a.to_string()], 7);

    let (status, cart) = shop
        .call(
            Method::PUT,
            &path,
            Some(&me.token),
            Some(json!({"quantity": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(quantities(&cart), HashMap::from([(b.to_string(), 1)]));
}

#[tokio::test]
async fn removing_a_line_and_clearing_the_cart() {
    let shop = start().await;
    let me = customer();
    let (a, b) = (PRODUCTS[1].id(), PRODUCTS[2].id());
    shop.add(&me, a, 1).await;
    shop.add(&me, b, 4).await;
    let (status, cart) = shop
        .call(
            Method::DELETE,
            &format!("/api/cart/items/{a}"),
            Some(&me.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(quantities(&cart), HashMap::from([(b.to_string(), 4)]));

    let (status, _) = shop
        .call(Method::DELETE, "/api/cart", Some(&me.token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(shop.view(&me).await["items"], json!([]));
}

#[tokio::test]
async fn the_view_follows_a_catalog_price_change() {
    let shop = start().await;
    let me = customer();
    let product = &PRODUCTS[8];
    shop.add(&me, product.id(), 2).await;
    assert_eq!(
        shop.view(&me).await["total"]["amount"],
        product.price_cents * 2
    );

    let admin = token(Role::Admin);
    let updated = shop
        .cart
        .http
        .put(format!("{}/api/products/{}", shop.catalog, product.id()))
        .bearer_auth(admin)
        .json(&json!({
            "name": product.name,
            "description": product.description,
            "category": product.category,
            "price": {"amount": 1000, "currency": "USD"},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), StatusCode::OK);

    let cart = shop.view(&me).await;
    assert_eq!(cart["items"][0]["unitPrice"]["amount"], 1000);
    assert_eq!(cart["total"]["amount"], 2000);
}

#[tokio::test]
async fn products_deleted_from_the_catalog_drop_out_of_the_cart() {
    let shop = start().await;
    let me = customer();
    let (kept, deleted) = (PRODUCTS[10].id(), PRODUCTS[11].id());
    shop.add(&me, kept, 1).await;
    shop.add(&me, deleted, 1).await;
    let gone = shop
        .cart
        .http
        .delete(format!("{}/api/products/{deleted}", shop.catalog))
        .bearer_auth(token(Role::Admin))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);

    let cart = shop.view(&me).await;
    assert_eq!(quantities(&cart), HashMap::from([(kept.to_string(), 1)]));
    assert_eq!(cart["total"]["amount"], PRODUCTS[10].price_cents);
    let mut redis = shop.redis().await;
    let still_stored: bool = redis::cmd("HEXISTS")
        .arg(cart_key(me.id))
        .arg(deleted.to_string())
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(!still_stored);
}

#[tokio::test]
async fn adding_an_unknown_product_is_404_and_writes_nothing() {
    let shop = start().await;
    let me = customer();
    let (status, body) = shop.add(&me, ProductId::new(), 1).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "unknown_product");
    let (status, body) = shop
        .call(
            Method::PUT,
            &format!("/api/cart/items/{}", ProductId::new()),
            Some(&me.token),
            Some(json!({"quantity": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "unknown_product");
    assert_eq!(shop.view(&me).await["items"], json!([]));
}

#[tokio::test]
async fn quantities_outside_one_to_ninety_nine_are_refused() {
    let shop = start().await;
    let me = customer();
    let id = PRODUCTS[0].id();
    for bad in [0, -1, 100, i64::MAX] {
        let (status, body) = shop.add(&me, id, bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
    let path = format!("/api/cart/items/{id}");
    for bad in [json!(-1), json!(100), json!("two"), json!(1.5)] {
        let (status, body) = shop
            .call(
                Method::PUT,
                &path,
                Some(&me.token),
                Some(json!({"quantity": bad})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
    assert_eq!(shop.view(&me).await["items"], json!([]));
}

#[tokio::test]
async fn an_add_that_would_pass_ninety_nine_is_refused_and_leaves_the_line_alone() {
    let shop = start().await;
    let me = customer();
    let id = PRODUCTS[0].id();
    shop.add(&me, id, 95).await;
    let (status, body) = shop.add(&me, id, 5).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["details"]["inCart"], 95);
    assert_eq!(quantities(&shop.view(&me).await)[&id.to_string()], 95);
    let (status, _) = shop.add(&me, id, 4).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_adds_never_push_a_line_past_ninety_nine() {
    let shop = start().await;
    let me = customer();
    let id = PRODUCTS[0].id();
    let attempts = futures::future::join_all((0..20).map(|_| shop.add(&me, id, 10))).await;
    let ok = attempts
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .count();
    let refused = attempts
        .iter()
        .filter(|(s, _)| *s == StatusCode::UNPROCESSABLE_ENTITY)
        .count();
    assert_eq!((ok, refused), (9, 11), "{attempts:?}");
    let quantity = quantities(&shop.view(&me).await)[&id.to_string()];
    assert_eq!(quantity, 90);
    assert!(quantity <= i64::from(MAX_QUANTITY));
}

#[tokio::test]
async fn a_cart_holds_at_most_fifty_products() {
    let shop = start().await;
    let me = customer();
    // Fill the stored cart directly: the demo catalog has fewer than 50 products.
    let mut redis = shop.redis().await;
    let mut fill = redis::cmd("HSET");
    fill.arg(cart_key(me.id));
    for _ in 0..50 {
        fill.arg(ProductId::new().to_string()).arg(1);
    }
    let _: i64 = fill.query_async(&mut redis).await.unwrap();
    let (status, body) = shop.add(&me, PRODUCTS[0].id(), 1).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "cart_full");
}

#[tokio::test]
async fn each_user_has_a_separate_cart() {
    let shop = start().await;
    let (me, you) = (customer(), customer());
    shop.add(&me, PRODUCTS[0].id(), 1).await;
    shop.add(&you, PRODUCTS[1].id(), 2).await;
    assert_eq!(
        quantities(&shop.view(&me).await),
        HashMap::from([(PRODUCTS[0].id().to_string(), 1)])
    );
    shop.call(Method::DELETE, "/api/cart", Some(&you.token), None)
        .await;
    assert_eq!(shop.view(&me).await["itemCount"], 1);
    assert_eq!(shop.view(&you).await["itemCount"], 0);
}

#[tokio::test]
async fn bad_requests_are_refused_with_clear_statuses() {
    let shop = start().await;
    let me = customer();
    let (status, _) = shop.call(Method::GET, "/api/cart", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = shop
        .call(Method::GET, "/api/cart", Some("not-a-token"), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let malformed = shop
        .cart
        .http
        .post(shop.cart.url("/api/cart/items"))
        .bearer_auth(&me.token)
        .header("content-type", "application/json")
        .body("{\"productId\":")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);

    let (status, _) = shop
        .call(
            Method::POST,
            "/api/cart/items",
            Some(&me.token),
            Some(json!({"productId": "nope", "quantity": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = shop
        .call(
            Method::DELETE,
            "/api/cart/items/nope",
            Some(&me.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let oversized = shop
        .call(
            Method::POST,
            "/api/cart/items",
            Some(&me.token),
            Some(json!({"productId": PRODUCTS[0].id(), "quantity": 1, "pad": "x".repeat(70_000)})),
        )
        .await;
    assert_eq!(oversized.0, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(shop.view(&me).await["items"], json!([]));
}

#[tokio::test]
async fn only_services_may_clear_a_cart_through_the_internal_route() {
    let shop = start().await;
    let me = customer();
    shop.add(&me, PRODUCTS[0].id(), 1).await;
    let path = format!("/internal/carts/{}", me.id);
    for role in [Role::Customer, Role::Admin] {
        let (status, _) = shop
            .call(Method::DELETE, &path, Some(&token_for(me.id, role)), None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    assert_eq!(shop.view(&me).await["itemCount"], 1);
    let service = service_token("orders");
    let (status, _) = shop.call(Method::DELETE, &path, Some(&service), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(shop.view(&me).await["itemCount"], 0);
}

#[tokio::test]
async fn with_the_catalog_down_view_and_add_are_503_but_remove_and_clear_work() {
    let shop = start_without_catalog().await;
    let me = customer();
    let (a, b) = (PRODUCTS[0].id(), PRODUCTS[1].id());
    let mut redis = shop.redis().await;
    let _: i64 = redis::cmd("HSET")
        .arg(cart_key(me.id))
        .arg(a.to_string())
        .arg(2)
        .arg(b.to_string())
        .arg(3)
        .query_async(&mut redis)
        .await
        .unwrap();

    let (status, body) = shop
        .call(Method::GET, "/api/cart", Some(&me.token), None)
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "catalog_unavailable");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("catalog")
    );
    let (status, body) = shop.add(&me, a, 1).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "catalog_unavailable");

    let (status, body) = shop
        .call(
            Method::DELETE,
            &format!("/api/cart/items/{a}"),
            Some(&me.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"items": [{"productId": b, "quantity": 3}], "itemCount": 3, "pricesUnavailable": true})
    );
    let (status, _) = shop
        .call(Method::DELETE, "/api/cart", Some(&me.token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let left: i64 = redis::cmd("EXISTS")
        .arg(cart_key(me.id))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(left, 0);
}
