//! The web front over real HTTP, against a fake public API on a random port: what pages show,
//! what they send to the API, and how they fail.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod fake_gateway;

use fake_gateway::{Log, NOTIFICATION_ID, ORDER_ID, PASSWORD, SNEAKY_NAME, TOKEN};
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use storefront_testkit::app::TestApp;
use storefront_web::{Config, build};

struct Web {
    base: String,
    /// Follows no redirects, so that a test sees each one.
    http: reqwest::Client,
    log: Log,
}

async fn start_against(gateway: &str, log: Log) -> Web {
    let app = TestApp::builder("web")
        .envs(&[
            ("GATEWAY_URL", gateway),
            ("WEB_SHOP_NAME", "Test Shop"),
            ("STOREFRONT_REQUEST_TIMEOUT", "5s"),
        ])
        .start(|env| async move { Ok(build(Config::from_source(&env)?).await?) })
        .await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Web {
        base: app.base,
        http,
        log,
    }
}

async fn start() -> Web {
    let (gateway, log) = fake_gateway::start().await;
    start_against(&gateway, log).await
}

struct Page {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

impl Web {
    /// The checkout form's idempotency key, as a browser receives it.
    async fn checkout_key(&self) -> String {
        idempotency_field(&self.get("/checkout", true).await.body)
    }

    /// Logs in (anonymous) with these form fields.
    async fn login(&self, form: &[(&str, &str)]) -> Page {
        self.post("/login", false, form).await
    }

    /// Registers (anonymous) with these form fields.
    async fn register(&self, form: &[(&str, &str)]) -> Page {
        self.post("/register", false, form).await
    }

    /// Adds to the cart (logged in) with these form fields.
    async fn add_to_cart(&self, form: &[(&str, &str)]) -> Page {
        self.post("/cart/items", true, form).await
    }

    async fn get(&self, path: &str, logged_in: bool) -> Page {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if logged_in {
            req = req.header(COOKIE, format!("sf_session={TOKEN}"));
        }
        Self::page(req).await
    }

    async fn post(&self, path: &str, logged_in: bool, form: &[(&str, &str)]) -> Page {
        let mut req = self.http.post(format!("{}{path}", self.base)).form(form);
        if logged_in {
            req = req.header(COOKIE, format!("sf_session={TOKEN}"));
        }
        Self::page(req).await
    }

    async fn page(req: reqwest::RequestBuilder) -> Page {
        let resp = req.send().await.unwrap();
        Page {
            status: resp.status(),
            headers: resp.headers().clone(),
            body: resp.text().await.unwrap(),
        }
    }
}

/// The value of the hidden idempotency field of a rendered checkout form.
fn idempotency_field(html: &str) -> String {
    let marker = r#"name="idempotencyKey" value=""#;
    let start = html.find(marker).expect("checkout form has a key field") + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn listing_renders_names_and_formatted_prices_and_escapes_html() {
    let web = start().await;
    let page = web.get("/", false).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("AeroPress Coffee Maker"));
    assert!(page.body.contains("$34.95"));
    assert!(page.body.contains("$1,234.56"));
    assert!(
        !page.body.contains(SNEAKY_NAME),
        "catalog text must be escaped"
    );
    assert!(page.body.contains("&#60;script&#62;") || page.body.contains("&lt;script&gt;"));
    assert!(page.body.contains("<title>Shop · Test Shop</title>"));
    let csp = page.headers.get("content-security-policy").unwrap();
    assert!(csp.to_str().unwrap().contains("script-src 'none'"));
}

#[tokio::test]
async fn listing_passes_search_category_sort_and_page_to_the_api() {
    let web = start().await;
    let page = web
        .get("/?q=coffee+mug&category=kitchen&sort=-price&page=2", false)
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let calls = web.log.find(Method::GET, "/api/products");
    let query = &calls.last().expect("the listing asked the catalog").query;
    for part in [
        "q=coffee+mug",
        "category=kitchen",
        "sort=-price",
        "page=2",
        "pageSize=12",
    ] {
        assert!(query.contains(part), "{part} missing from {query}");
    }
    assert!(
        page.body.contains(r#"value="coffee mug""#),
        "search box keeps the words"
    );
    assert!(page.body.contains(r#"<option value="-price" selected>"#));
}

#[tokio::test]
async fn listing_shows_category_counts_and_page_x_of_y() {
    let web = start().await;
    let page = web.get("/?page=2", false).await;
    assert!(page.body.contains("Page 2 of 3"), "30 products, 12 a page");
    assert!(page.body.contains(r#"href="/?page=3""#));
    assert!(
        page.body.contains(r#"href="/" rel="prev""#) || page.body.contains(r#"href="/?page=1""#)
    );
    assert!(page.body.contains(r#"href="/?category=kitchen""#));
    assert!(
        page.body
            .contains(r#"<span class="count" aria-label="5 products">5</span>"#)
    );
}

#[tokio::test]
async fn product_page_words_stock_by_quantity() {
    let web = start().await;
    for (id, wording) in [
        ("p-in", "In stock"),
        ("p-low", "Only 3 left"),
        ("p-out", "Out of stock"),
    ] {
        let page = web.get(&format!("/products/{id}"), false).await;
        assert_eq!(page.status, StatusCode::OK, "{id}");
        assert!(page.body.contains(wording), "{id} should say {wording}");
        assert!(page.body.contains("$19.99"));
    }
    let out = web.get("/products/p-out", false).await;
    assert!(out.body.contains(r#"id="add-to-cart" disabled"#));
}

#[tokio::test]
async fn unknown_product_and_path_give_the_html_404_page() {
    let web = start().await;
    for path in ["/products/nope", "/no/such/page"] {
        let page = web.get(path, false).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(page.body.contains("Page not found"), "{path}");
        assert!(page.body.contains("Test Shop"));
    }
}

#[tokio::test]
async fn login_sets_an_httponly_cookie_and_redirects_to_next() {
    let web = start().await;
    let page = web
        .login(&[
            ("email", "a@example.com"),
            ("password", PASSWORD),
            ("next", "/cart"),
        ])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/cart");
    let cookie = page.headers.get(SET_COOKIE).unwrap().to_str().unwrap();
    assert!(
        cookie.starts_with(&format!("sf_session={TOKEN};")),
        "{cookie}"
    );
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    assert!(!cookie.contains("Secure"), "not asked for secure cookies");
}

#[tokio::test]
async fn login_refuses_a_redirect_to_another_site() {
    let web = start().await;
    let page = web
        .login(&[
            ("email", "a@example.com"),
            ("password", PASSWORD),
            ("next", "//evil.example"),
        ])
        .await;
    assert_eq!(page.location(), "/");
}

#[tokio::test]
async fn wrong_password_shows_the_error_and_keeps_the_email_only() {
    let web = start().await;
    let page = web
        .login(&[("email", "a@example.com"), ("password", "wrong-secret")])
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.body.contains("do not match an account"));
    assert!(page.body.contains(r#"value="a@example.com""#));
    assert!(!page.body.contains("wrong-secret"));
    assert!(page.headers.get(SET_COOKIE).is_none());
}

#[tokio::test]
async fn register_with_a_taken_email_says_so_beside_the_field() {
    let web = start().await;
    let page = web
        .register(&[
            ("name", "Ada"),
            ("email", "taken@example.com"),
            ("password", "long enough pw"),
        ])
        .await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(page.body.contains(r#"id="email-error""#));
    assert!(
        page.body.contains(r#"value="Ada""#) && page.body.contains(r#"value="taken@example.com""#)
    );
    assert!(!page.body.contains("long enough pw"));
}

#[tokio::test]
async fn register_logs_the_new_shopper_in() {
    let web = start().await;
    let page = web
        .register(&[
            ("name", "Ada"),
            ("email", "new@example.com"),
            ("password", PASSWORD),
        ])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(page.headers.get(SET_COOKIE).is_some());
    assert_eq!(web.log.find(Method::POST, "/api/users/register").len(), 1);
}

#[tokio::test]
async fn cart_requires_login() {
    let web = start().await;
    let page = web.get("/cart", false).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/login?next=%2Fcart");
    assert!(web.log.find(Method::GET, "/api/cart").is_empty());
}

#[tokio::test]
async fn cart_shows_lines_and_totals_with_the_shoppers_token() {
    let web = start().await;
    let page = web.get("/cart", true).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("AeroPress Coffee Maker") && page.body.contains("$69.90"));
    assert!(page.body.contains(r#"id="checkout-link""#));
    let calls = web.log.find(Method::GET, "/api/cart");
    assert_eq!(calls[0].token.as_deref(), Some(TOKEN));
}

#[tokio::test]
async fn a_refused_token_sends_the_shopper_to_login_and_drops_the_cookie() {
    let web = start().await;
    let page = Web::page(
        web.http
            .get(format!("{}/orders", web.base))
            .header(COOKIE, "sf_session=expired.jwt.token"),
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/login?next=%2Forders");
    let cookie = page.headers.get(SET_COOKIE).unwrap().to_str().unwrap();
    assert!(cookie.contains("Max-Age=0"));
}

#[tokio::test]
async fn add_to_cart_sends_product_and_quantity_and_redirects_to_the_cart() {
    let web = start().await;
    let page = web
        .add_to_cart(&[("productId", "p-in"), ("quantity", "3")])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/cart?added=1");
    let calls = web.log.find(Method::POST, "/api/cart/items");
    assert_eq!(calls[0].body["productId"], "p-in");
    assert_eq!(calls[0].body["quantity"], 3);
    assert_eq!(calls[0].token.as_deref(), Some(TOKEN));
}

#[tokio::test]
async fn add_to_cart_when_logged_out_goes_to_login_and_back_to_the_product() {
    let web = start().await;
    let page = web
        .post(
            "/cart/items",
            false,
            &[("productId", "p-in"), ("quantity", "1")],
        )
        .await;
    assert_eq!(page.location(), "/login?next=%2Fproducts%2Fp-in");
}

#[tokio::test]
async fn cart_quantity_changes_and_removals_reach_the_api() {
    let web = start().await;
    let update = web
        .post("/cart/items/p-in", true, &[("quantity", "4")])
        .await;
    assert_eq!(update.location(), "/cart?updated=1");
    let puts = web.log.find(Method::PUT, "/api/cart/items/p-in");
    assert_eq!(puts[0].body["quantity"], 4);

    let nonsense = web
        .post("/cart/items/p-in", true, &[("quantity", "lots")])
        .await;
    assert_eq!(nonsense.location(), "/cart");
    assert_eq!(web.log.find(Method::PUT, "/api/cart/items/p-in").len(), 1);

    let remove = web.post("/cart/items/p-in/remove", true, &[]).await;
    assert_eq!(remove.location(), "/cart?removed=1");
    assert_eq!(
        web.log.find(Method::DELETE, "/api/cart/items/p-in").len(),
        1
    );
}

#[tokio::test]
async fn cancelling_a_paid_order_redirects_to_it_with_a_notice() {
    let web = start().await;
    let page = web
        .post(&format!("/orders/{ORDER_ID}/cancel"), true, &[])
        .await;
    assert_eq!(page.location(), format!("/orders/{ORDER_ID}?cancelled=1"));
    assert_eq!(
        web.log
            .find(Method::POST, &format!("/api/orders/{ORDER_ID}/cancel"))
            .len(),
        1
    );
}

#[tokio::test]
async fn each_checkout_form_carries_a_fresh_idempotency_key() {
    let web = start().await;
    let first = web.checkout_key().await;
    let second = web.checkout_key().await;
    assert!(uuid::Uuid::parse_str(&first).is_ok(), "{first}");
    assert_ne!(first, second);
}

fn card(key: &str, number: &'static str) -> Vec<(&'static str, String)> {
    vec![
        ("idempotencyKey", key.to_string()),
        ("cardNumber", number.to_string()),
        ("expMonth", "12".to_string()),
        ("expYear", "2040".to_string()),
        ("cvc", "123".to_string()),
    ]
}

async fn checkout(web: &Web, form: &[(&'static str, String)]) -> Page {
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    web.post("/checkout", true, &form).await
}

#[tokio::test]
async fn checkout_success_posts_the_key_and_redirects_to_the_order() {
    let web = start().await;
    let key = web.checkout_key().await;
    let page = checkout(&web, &card(&key, "4242 4242 4242 4242")).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), format!("/orders/{ORDER_ID}?placed=1"));
    let calls = web.log.find(Method::POST, "/api/orders");
    assert_eq!(calls[0].idempotency_key.as_deref(), Some(key.as_str()));
    assert_eq!(
        calls[0].body["payment"]["cardNumber"],
        "4242 4242 4242 4242"
    );
    assert_eq!(calls[0].body["payment"]["expMonth"], 12);
    assert!(
        calls[0].body.get("items").is_none(),
        "orders come from the cart"
    );

    let confirmation = web.get(page.location(), true).await;
    assert!(confirmation.body.contains("Your order is confirmed"));
    assert!(confirmation.body.contains(r#"id="cancel-order""#));
}

#[tokio::test]
async fn a_double_submit_of_one_form_sends_the_same_key() {
    let web = start().await;
    let key = web.checkout_key().await;
    checkout(&web, &card(&key, "4242 4242 4242 4242")).await;
    checkout(&web, &card(&key, "4242 4242 4242 4242")).await;
    let keys: Vec<_> = web
        .log
        .find(Method::POST, "/api/orders")
        .into_iter()
        .map(|s| s.idempotency_key)
        .collect();
    assert_eq!(keys, vec![Some(key.clone()), Some(key)]);
}

#[tokio::test]
async fn checkout_shows_the_decline_message_and_a_new_key_on_402() {
    let web = start().await;
    let key = web.checkout_key().await;
    let page = checkout(&web, &card(&key, "4000 0000 0000 0002")).await;
    assert_eq!(page.status, StatusCode::PAYMENT_REQUIRED);
    assert!(page.body.contains("Your card was declined"));
    assert!(page.body.contains(r#"role="alert""#));
    assert_ne!(idempotency_field(&page.body), key);
    assert!(
        !page.body.contains("4000 0000 0000 0002\""),
        "card number is not echoed"
    );
}

#[tokio::test]
async fn checkout_names_out_of_stock_products_on_409() {
    let web = start().await;
    let key = web.checkout_key().await;
    let page = checkout(&web, &card(&key, "4111 1111 1111 1111")).await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(
        page.body
            .contains("not enough stock left for: AeroPress Coffee Maker")
    );
}

#[tokio::test]
async fn checkout_explains_an_invalid_card_on_422() {
    let web = start().await;
    let key = web.checkout_key().await;
    let page = checkout(&web, &card(&key, "1234")).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("Please check your card details"));
}

#[tokio::test]
async fn checkout_keeps_the_key_when_the_outcome_is_unknown() {
    let web = start().await;
    let key = web.checkout_key().await;
    let page = checkout(&web, &card(&key, "4000 0000 0000 0503")).await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.body.contains("Submitting again is safe"));
    assert_eq!(
        idempotency_field(&page.body),
        key,
        "a retry must not charge twice"
    );
}

/// A URL on which nothing listens.
async fn dead_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

#[tokio::test]
async fn api_down_gives_the_friendly_503_page() {
    let web = start_against(&dead_url().await, Log::default()).await;
    for path in ["/", "/products/p-in"] {
        let page = web.get(path, false).await;
        assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(page.body.contains("taking a short break"), "{path}");
        assert!(
            page.body.contains("<main"),
            "a whole page, not a bare error"
        );
    }
}

#[tokio::test]
async fn orders_history_shows_status_badges_and_failure_reason() {
    let web = start().await;
    let page = web.get("/orders", true).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains(r#"<span class="badge paid">Paid</span>"#)
    );
    assert!(
        page.body
            .contains(r#"<span class="badge failed">Failed</span>"#)
    );
    assert!(
        page.body
            .contains(r#"<span class="badge shipped">Shipped</span>"#)
    );
    assert!(
        page.body
            .contains("The card was declined; no money was taken.")
    );
    assert!(
        !page.body.contains("card_declined"),
        "codes are for machines"
    );
    assert_eq!(page.body.matches(r#"class="order-row""#).count(), 3);
}

#[tokio::test]
async fn logout_tells_the_api_and_clears_the_cookie() {
    let web = start().await;
    let page = web.post("/logout", true, &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let cookie = page.headers.get(SET_COOKIE).unwrap().to_str().unwrap();
    assert!(cookie.starts_with("sf_session=;") && cookie.contains("Max-Age=0"));
    let calls = web.log.find(Method::POST, "/api/users/logout");
    assert_eq!(calls[0].token.as_deref(), Some(TOKEN));
}

#[tokio::test]
async fn header_shows_the_unread_notification_count_and_the_account_page_lists_them() {
    let web = start().await;
    let home = web.get("/", true).await;
    assert!(
        home.body
            .contains(r#"id="notification-count" aria-label="2 unread notifications">2</span>"#),
        "{}",
        home.body
    );
    let account = web.get("/account", true).await;
    assert_eq!(account.status, StatusCode::OK);
    assert!(account.body.contains("Order confirmed"));
    assert!(
        account
            .body
            .contains("Order &#60;b&#62;shipped&#60;/b&#62;")
            || account.body.contains("Order &lt;b&gt;shipped&lt;/b&gt;"),
        "titles are escaped: {}",
        account.body
    );
    assert_eq!(account.body.matches(r#"class="mark-read""#).count(), 2);
    assert!(
        account
            .body
            .contains(&format!(r#"href="/orders/{ORDER_ID}""#))
    );

    let marked = web
        .post(
            &format!("/account/notifications/{NOTIFICATION_ID}/read"),
            true,
            &[],
        )
        .await;
    assert_eq!(marked.status, StatusCode::SEE_OTHER);
    assert_eq!(marked.location(), "/account");
    let sent = web.log.find(
        Method::POST,
        &format!("/api/notifications/{NOTIFICATION_ID}/read"),
    );
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].token.as_deref(), Some(TOKEN));

    let anonymous = web.get("/account", false).await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert!(
        anonymous.location().starts_with("/login"),
        "{}",
        anonymous.location()
    );
    let bad = web
        .post("/account/notifications/..%2Fx/read", true, &[])
        .await;
    assert_eq!(bad.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn header_shows_the_cart_count_when_logged_in() {
    let web = start().await;
    let page = web.get("/", true).await;
    assert!(
        page.body
            .contains(r#"id="cart-count" aria-label="2 items">2</span>"#)
    );
    let anonymous = web.get("/", false).await;
    assert!(anonymous.body.contains(r#"id="login-link""#));
    assert!(!anonymous.body.contains(r#"id="cart-link""#));
}

#[tokio::test]
async fn static_css_and_svgs_are_served_with_their_content_types() {
    let web = start().await;
    let content_type = |page: &Page| {
        page.headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let css = web.get("/static/style.css", false).await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(content_type(&css).starts_with("text/css"));
    assert!(css.body.contains(":focus-visible"));
    for name in [
        "kitchen",
        "books",
        "outdoor",
        "electronics",
        "home",
        "apparel",
        "placeholder",
    ] {
        let svg = web.get(&format!("/static/img/{name}.svg"), false).await;
        assert_eq!(svg.status, StatusCode::OK, "{name}");
        assert_eq!(content_type(&svg), "image/svg+xml", "{name}");
        assert!(svg.body.starts_with("<svg"), "{name}");
    }
    let missing = web.get("/static/img/unknown.svg", false).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn health_routes_of_the_shared_stack_answer() {
    let web = start().await;
    assert_eq!(web.get("/healthz", false).await.status, StatusCode::OK);
    assert_eq!(web.get("/readyz", false).await.status, StatusCode::OK);
    let all = web.log.all();
    assert!(all.is_empty(), "health must not call the API: {all:?}");
}
