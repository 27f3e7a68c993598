//! The catalog over HTTP: a real app on a random port against throwaway PostgreSQL and Redis,
//! seeded with the demo products.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use storefront_catalog::{Config, GENERATION_KEY, build};
use storefront_common::auth::Role;
use storefront_common::demo::PRODUCTS;
use storefront_common::ids::UserId;
use storefront_testkit::app::{TestApp, token};
use storefront_testkit::{RedisServer, shared_postgres, shared_redis};

/// The catalog app under test, seeded with the demo products.
struct App(TestApp);

impl std::ops::Deref for App {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.0
    }
}

async fn start_on(database_url: String, redis_url: String) -> App {
    let app = TestApp::builder("catalog")
        .database_url(&database_url)
        .redis_url(&redis_url)
        .env("STOREFRONT_SEED_DEMO", "true")
        .start(|env| async move { Ok(build(Config::from_source(&env)?).await?) })
        .await;
    App(app)
}

async fn start() -> App {
    start_on(
        shared_postgres().create_database("catalog").await,
        shared_redis().fresh_url(),
    )
    .await
}

impl App {
    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, None, None).await
    }

    /// A request as a new caller with `role` (anonymous without one).
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        role: Option<Role>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let token = role.map(token);
        let reply = self
            .0
            .send(method, path, token.as_deref(), body.as_ref())
            .await;
        (reply.status, reply.body)
    }

    async fn list(&self, query: &str) -> Value {
        let (status, body) = self.get(&format!("/api/products?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        body
    }

    async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.redis_url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }
}

fn names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

fn prices(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["price"]["amount"].as_i64().unwrap())
        .collect()
}

fn new_product() -> Value {
    json!({
        "name": "Walnut Desk Organiser",
        "description": "Solid walnut tray with three compartments.",
        "category": "home-office",
        "price": {"amount": 4550, "currency": "USD"},
        "imageUrl": "/static/img/home.svg"
    })
}

#[tokio::test]
async fn lists_the_seeded_products_newest_first_twenty_per_page() {
    let app = start().await;
    let page = app.list("").await;
    assert_eq!(page["total"], PRODUCTS.len());
    assert_eq!(page["page"], 1);
    assert_eq!(page["pageSize"], 20);
    let expected: Vec<String> = PRODUCTS
        .iter()
        .take(20)
        .map(|p| p.name.to_string())
        .collect();
    assert_eq!(names(&page), expected);
    let first = &page["items"][0];
    assert_eq!(first["id"], PRODUCTS[0].id().to_string());
    assert_eq!(
        first["price"],
        json!({"amount": PRODUCTS[0].price_cents, "currency": "USD"})
    );
    assert_eq!(first["imageUrl"], PRODUCTS[0].image_url());
    assert!(first["createdAt"].is_string() && first["updatedAt"].is_string());
}

#[tokio::test]
async fn pages_do_not_overlap_and_a_page_past_the_end_is_empty() {
    let app = start().await;
    let one = names(&app.list("pageSize=10&page=1&sort=name").await);
    let two = names(&app.list("pageSize=10&page=2&sort=name").await);
    assert_eq!((one.len(), two.len()), (10, 10));
    assert!(one.iter().all(|n| !two.contains(n)));
    let past = app.list("pageSize=10&page=50").await;
    assert_eq!(past["items"], json!([]));
    assert_eq!(past["total"], PRODUCTS.len());
}

#[tokio::test]
async fn filters_by_category_and_price_range_and_sorts_by_price() {
    let app = start().await;
    let page = app
        .list("category=books&minPrice=3500&maxPrice=4500&sort=price")
        .await;
    let expected: Vec<i64> = {
        let mut p: Vec<i64> = PRODUCTS
            .iter()
            .filter(|p| p.category == "books" && (3500..=4500).contains(&p.price_cents))
            .map(|p| p.price_cents)
            .collect();
        p.sort();
        p
    };
    assert!(!expected.is_empty());
    assert_eq!(prices(&page), expected);
    assert_eq!(page["total"], expected.len());
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["category"] == "books")
    );

    let descending = prices(&app.list("sort=-price&pageSize=100").await);
    let mut sorted = descending.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(descending, sorted);
    assert_eq!(descending.len(), PRODUCTS.len());
}

#[tokio::test]
async fn sorts_by_name_both_ways() {
    let app = start().await;
    let mut expected: Vec<String> = PRODUCTS.iter().map(|p| p.name.to_string()).collect();
    expected.sort_by_key(|n| n.to_lowercase());
    assert_eq!(names(&app.list("sort=name&pageSize=100").await), expected);
    expected.reverse();
    assert_eq!(names(&app.list("sort=-name&pageSize=100").await), expected);
}

#[tokio::test]
async fn search_is_case_insensitive_over_name_and_description() {
    let app = start().await;
    assert_eq!(
        names(&app.list("q=KEYBOARD").await),
        ["Mechanical Keyboard"]
    );
    // "odour-resistant" appears only in a description.
    assert_eq!(names(&app.list("q=Odour").await), ["Merino Wool T-Shirt"]);
    let kitchen_coffee = app.list("q=coffee&category=kitchen").await;
    assert_eq!(names(&kitchen_coffee), ["AeroPress Coffee Maker"]);
}

#[tokio::test]
async fn search_treats_like_wildcards_as_plain_text() {
    let app = start().await;
    // Unescaped, "%" and "_" would match every product.
    assert_eq!(app.list("q=%25").await["total"], 0);
    assert_eq!(app.list("q=_").await["total"], 0);
    // "100 W" is in a description; "100%" must not match it.
    assert_eq!(app.list("q=100%25").await["total"], 0);
}

#[tokio::test]
async fn ids_returns_only_those_products_and_ignores_unknown_ones() {
    let app = start().await;
    let wanted = [PRODUCTS[3].id(), PRODUCTS[7].id()];
    let query = format!("ids={},{},{}", wanted[0], wanted[1], UserId::new());
    let page = app.list(&query).await;
    let got: HashSet<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    let expected: HashSet<String> = wanted.iter().map(ToString::to_string).collect();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn bad_list_parameters_are_refused_with_400_or_422() {
    let app = start().await;
    let too_many: Vec<String> = (0..101).map(|_| UserId::new().to_string()).collect();
    let cases = [
        ("sort=cheapest", StatusCode::BAD_REQUEST),
        ("ids=not-a-uuid", StatusCode::BAD_REQUEST),
        ("minPrice=abc", StatusCode::BAD_REQUEST),
        ("page=0", StatusCode::UNPROCESSABLE_ENTITY),
        ("pageSize=0", StatusCode::UNPROCESSABLE_ENTITY),
        ("pageSize=101", StatusCode::UNPROCESSABLE_ENTITY),
        ("minPrice=-1", StatusCode::UNPROCESSABLE_ENTITY),
        (
            "minPrice=500&maxPrice=100",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (query, status) in cases {
        let (got, body) = app.get(&format!("/api/products?{query}")).await;
        assert_eq!(got, status, "{query}: {body}");
        assert!(body["error"]["code"].is_string(), "{query}: {body}");
    }
    let (got, _) = app
        .get(&format!("/api/products?ids={}", too_many.join(",")))
        .await;
    assert_eq!(got, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn categories_are_listed_with_their_counts() {
    let app = start().await;
    let (status, body) = app.get("/api/products/categories").await;
    assert_eq!(status, StatusCode::OK);
    let mut expected: HashMap<&str, i64> = HashMap::new();
    for p in PRODUCTS {
        *expected.entry(p.category).or_default() += 1;
    }
    let got: HashMap<&str, i64> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["count"].as_i64().unwrap()))
        .collect();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn one_product_by_id_and_404_or_400_for_unknown_or_malformed_ids() {
    let app = start().await;
    let (status, body) = app
        .get(&format!("/api/products/{}", PRODUCTS[1].id()))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["name"], PRODUCTS[1].name);

    let (status, body) = app.get(&format!("/api/products/{}", UserId::new())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");

    let (status, body) = app.get("/api/products/not-a-uuid").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "bad_path");
}

#[tokio::test]
async fn admin_creates_a_product_that_lists_and_reads_back() {
    let app = start().await;
    let (status, created) = app
        .send(
            reqwest::Method::POST,
            "/api/products",
            Some(Role::Admin),
            Some(new_product()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["price"], json!({"amount": 4550, "currency": "USD"}));
    let id = created["id"].as_str().unwrap();

    let (status, read) = app.get(&format!("/api/products/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, created);
    let listed = app.list("category=home-office").await;
    assert_eq!(names(&listed), ["Walnut Desk Organiser"]);
    assert_eq!(app.list("").await["total"], PRODUCTS.len() + 1);
}

#[tokio::test]
async fn invalid_products_are_refused_and_nothing_is_written() {
    let app = start().await;
    let with = |field: &str, value: Value| {
        let mut body = new_product();
        body[field] = value;
        body
    };
    let cases = [
        ("empty name", with("name", json!("   "))),
        ("long name", with("name", json!("x".repeat(201)))),
        (
            "long description",
            with("description", json!("x".repeat(5001))),
        ),
        ("upper-case category", with("category", json!("Home"))),
        (
            "negative price",
            with("price", json!({"amount": -1, "currency": "USD"})),
        ),
        (
            "huge price",
            with("price", json!({"amount": 100_000_001, "currency": "USD"})),
        ),
        (
            "other currency",
            with("price", json!({"amount": 100, "currency": "EUR"})),
        ),
        (
            "lower-case currency",
            with("price", json!({"amount": 100, "currency": "usd"})),
        ),
        ("price as text", with("price", json!("12.50"))),
        ("name as number", with("name", json!(12))),
        (
            "amount past i64",
            with("price", json!({"amount": 1e30, "currency": "USD"})),
        ),
    ];
    for (what, body) in cases {
        let (status, answer) = app
            .send(
                reqwest::Method::POST,
                "/api/products",
                Some(Role::Admin),
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {answer}");
    }
    let (_, answer) = app
        .send(
            reqwest::Method::POST,
            "/api/products",
            Some(Role::Admin),
            Some(with("price", json!({"amount": 100, "currency": "EUR"}))),
        )
        .await;
    assert!(
        answer["error"]["details"]["fields"]["price.currency"].is_string(),
        "{answer}"
    );

    let malformed = app
        .http
        .post(app.url("/api/products"))
        .bearer_auth(token(Role::Admin))
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);

    let not_json = app
        .http
        .post(app.url("/api/products"))
        .bearer_auth(token(Role::Admin))
        .body(new_product().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let oversized = app
        .send(
            reqwest::Method::POST,
            "/api/products",
            Some(Role::Admin),
            Some(with("description", json!("x".repeat(70 * 1024)))),
        )
        .await;
    assert_eq!(
        oversized.0,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        oversized.1
    );

    assert_eq!(app.list("").await["total"], PRODUCTS.len());
}

#[tokio::test]
async fn writes_need_an_admin_token() {
    let app = start().await;
    let id = PRODUCTS[0].id();
    let path = format!("/api/products/{id}");
    let attempts = [
        (
            reqwest::Method::POST,
            "/api/products".to_string(),
            Some(new_product()),
        ),
        (reqwest::Method::PUT, path.clone(), Some(new_product())),
        (reqwest::Method::DELETE, path.clone(), None),
    ];
    for (method, path, body) in attempts {
        let (status, _) = app.send(method.clone(), &path, None, body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        let (status, answer) = app
            .send(method.clone(), &path, Some(Role::Customer), body)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(answer["error"]["code"], "forbidden");
    }
    let bad_token = app
        .http
        .delete(app.url(&path))
        .bearer_auth("not.a.token")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_token.status(), StatusCode::UNAUTHORIZED);
    // A customer is refused before the body is looked at.
    let (status, _) = app
        .send(
            reqwest::Method::POST,
            "/api/products",
            Some(Role::Customer),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(app.get(&path).await.0, StatusCode::OK);
}

#[tokio::test]
async fn reads_are_cached_in_redis_under_the_current_generation() {
    let app = start().await;
    let id = PRODUCTS[2].id();
    let mut redis = app.redis().await;
    let generation: i64 = redis::cmd("GET")
        .arg(GENERATION_KEY)
        .query_async::<Option<i64>>(&mut redis)
        .await
        .unwrap()
        .unwrap_or(0);
    let key = format!("catalog:v{generation}:product:{id}");
    let before: bool = redis::cmd("EXISTS")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(!before);

    assert_eq!(
        app.get(&format!("/api/products/{id}")).await.0,
        StatusCode::OK
    );
    let cached: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    let cached: Value =
        serde_json::from_str(&cached.expect("product cached after a read")).unwrap();
    assert_eq!(cached["id"], id.to_string());
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= 60_000, "{ttl}");

    // The cached copy is what is served: change it behind the catalog's back and read again.
    let mut doctored = cached.clone();
    doctored["name"] = json!("served from the cache");
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(doctored.to_string())
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(
        app.get(&format!("/api/products/{id}")).await.1["name"],
        "served from the cache"
    );
}

/// `catalog_cache_lookups_total{result}` from the service's /metrics.
async fn lookups(app: &App, result: &str) -> f64 {
    let text = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = format!("catalog_cache_lookups_total{{service=\"catalog\",result=\"{result}\"}}");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn cache_lookups_are_counted_by_how_the_cache_answered() {
    let app = start().await;
    assert_eq!(
        lookups(&app, "hit").await,
        0.0,
        "every series exists from the start"
    );
    let path = format!("/api/products/{}", PRODUCTS[1].id());
    for _ in 0..3 {
        assert_eq!(app.get(&path).await.0, StatusCode::OK);
    }
    assert_eq!(lookups(&app, "miss").await, 1.0, "the first read loads");
    assert_eq!(
        lookups(&app, "hit").await,
        2.0,
        "the next two are served from Redis"
    );
    assert_eq!(lookups(&app, "unavailable").await, 0.0);
}

#[tokio::test]
async fn an_admin_update_is_seen_at_once_by_cached_reads() {
    let app = start().await;
    let product = &PRODUCTS[4];
    let path = format!("/api/products/{}", product.id());
    let list_query = format!("ids={}", product.id());
    // Fill both caches.
    assert_eq!(
        app.get(&path).await.1["price"]["amount"],
        product.price_cents
    );
    assert_eq!(prices(&app.list(&list_query).await), [product.price_cents]);
    let categories_before = app.get("/api/products/categories").await.1;

    let mut body = new_product();
    body["name"] = json!(product.name);
    body["price"] = json!({"amount": 1234, "currency": "USD"});
    let (status, updated) = app
        .send(reqwest::Method::PUT, &path, Some(Role::Admin), Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["price"]["amount"], 1234);
    assert_eq!(updated["createdAt"], app.get(&path).await.1["createdAt"]);

    assert_eq!(app.get(&path).await.1["price"]["amount"], 1234);
    assert_eq!(prices(&app.list(&list_query).await), [1234]);
    assert_ne!(
        app.get("/api/products/categories").await.1,
        categories_before
    );
}

#[tokio::test]
async fn update_of_unknown_or_malformed_ids_is_404_or_400() {
    let app = start().await;
    let (status, _) = app
        .send(
            reqwest::Method::PUT,
            &format!("/api/products/{}", UserId::new()),
            Some(Role::Admin),
            Some(new_product()),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .send(
            reqwest::Method::PUT,
            "/api/products/123",
            Some(Role::Admin),
            Some(new_product()),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_deleted_product_is_gone_everywhere_even_after_it_was_cached() {
    let app = start().await;
    let id = PRODUCTS[5].id();
    let path = format!("/api/products/{id}");
    assert_eq!(app.get(&path).await.0, StatusCode::OK);
    assert_eq!(app.list("").await["total"], PRODUCTS.len());

    let (status, _) = app
        .send(reqwest::Method::DELETE, &path, Some(Role::Admin), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    assert_eq!(app.get(&path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.list("").await["total"], PRODUCTS.len() - 1);
    assert_eq!(app.list(&format!("ids={id}")).await["items"], json!([]));
    let again = app
        .send(reqwest::Method::DELETE, &path, Some(Role::Admin), None)
        .await;
    assert_eq!(again.0, StatusCode::NOT_FOUND);
    let update = app
        .send(
            reqwest::Method::PUT,
            &path,
            Some(Role::Admin),
            Some(new_product()),
        )
        .await;
    assert_eq!(update.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn seeding_is_idempotent_and_does_not_resurrect_deleted_products() {
    let first = start().await;
    let id = PRODUCTS[0].id();
    first
        .send(
            reqwest::Method::DELETE,
            &format!("/api/products/{id}"),
            Some(Role::Admin),
            None,
        )
        .await;
    // A restart, and a second replica, against the same database.
    let (a, b) = tokio::join!(
        start_on(first.database_url().into(), first.redis_url().into()),
        start_on(first.database_url().into(), first.redis_url().into()),
    );
    for app in [&a, &b] {
        assert_eq!(app.list("").await["total"], PRODUCTS.len() - 1);
        assert_eq!(
            app.get(&format!("/api/products/{id}")).await.0,
            StatusCode::NOT_FOUND
        );
    }
}

#[tokio::test]
async fn reads_still_work_while_redis_is_down() {
    let redis = RedisServer::start().unwrap();
    let app = start_on(
        shared_postgres().create_database("catalog").await,
        redis.url(),
    )
    .await;
    let path = format!("/api/products/{}", PRODUCTS[0].id());
    assert_eq!(app.get(&path).await.0, StatusCode::OK);
    assert_eq!(app.get("/readyz").await.0, StatusCode::OK);

    redis.stop();

    let started = std::time::Instant::now();
    let (status, product) = app.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{product}");
    assert_eq!(product["name"], PRODUCTS[0].name);
    let books = PRODUCTS.iter().filter(|p| p.category == "books").count();
    assert_eq!(app.list("category=books").await["total"], books);
    assert_eq!(app.get("/api/products/categories").await.0, StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    let (status, ready) = app.get("/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
    assert_eq!(ready["checks"]["postgres"], "ok");
}

#[tokio::test]
async fn nul_characters_in_text_are_a_400_not_a_500() {
    let app = start().await;
    for query in ["category=%00", "q=%00a", "pageSize=1&category=%00%C3%9A"] {
        let (status, body) = app.get(&format!("/api/products?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["code"], "invalid_text", "{query}: {body}");
    }
    let mut product = new_product();
    product["name"] = json!("Kettle\u{0}");
    let (status, body) = app
        .send(
            reqwest::Method::POST,
            "/api/products",
            Some(Role::Admin),
            Some(product),
        )
        .await;
    assert!(status.is_client_error(), "{status}: {body}");
}
