//! The checkout saga across the real catalog, cart, inventory, payments and orders services.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use reqwest::{Method, StatusCode};
use serde_json::json;
use support::*;

#[tokio::test]
async fn checkout_charges_commits_stock_and_records_a_paid_order() {
    let shop = start().await;
    let (user, token) = shop.customer();
    let (book, mug) = (product(5), product(0));
    shop.set_stock(book, 5).await;
    shop.set_stock(mug, 5).await;

    let (status, order) = shop
        .checkout(&token, "k1", Some(items(&[(book, 2), (mug, 1)])), GOOD_CARD)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(order["status"], "paid");
    assert_eq!(order["userId"], json!(user));
    let expected = book.price_cents * 2 + mug.price_cents;
    assert_eq!(
        order["total"],
        json!({"amount": expected, "currency": "USD"})
    );
    assert_eq!(order["items"].as_array().unwrap().len(), 2);

    assert_eq!(shop.stock(book).await, (3, 0));
    assert_eq!(shop.stock(mug).await, (4, 0));
    let payments = shop.payments_of(order["id"].as_str().unwrap()).await;
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0]["status"], "succeeded");
    assert_eq!(payments[0]["amount"]["amount"], expected);
}

#[tokio::test]
async fn checkout_from_the_cart_orders_its_lines_and_empties_it() {
    let shop = start().await;
    let (_, token) = shop.customer();
    let p = product(10);
    shop.set_stock(p, 10).await;
    let (status, _) = shop
        .call(
            Method::POST,
            format!("{}/api/cart/items", shop.cart),
            Some(&token),
            None,
            Some(json!({"productId": p.id(), "quantity": 3})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, order) = shop.checkout(&token, "from-cart", None, GOOD_CARD).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(order["items"][0]["quantity"], 3);
    assert_eq!(order["total"]["amount"], p.price_cents * 3);

    let (_, cart) = shop
        .call(
            Method::GET,
            format!("{}/api/cart", shop.cart),
            Some(&token),
            None,
            None,
        )
        .await;
    assert_eq!(cart["items"].as_array().map(Vec::len), Some(0), "{cart}");
    assert_eq!(shop.stock(p).await, (7, 0));
}

#[tokio::test]
async fn a_retry_of_a_cart_order_replays_its_answer_after_the_cart_was_emptied() {
    // Pricing the retry again fails (the cart is empty now): the stored answer must still win.
    let shop = start().await;
    let (_, token) = shop.customer();
    let p = product(11);
    shop.set_stock(p, 10).await;
    let (status, _) = shop
        .call(
            Method::POST,
            format!("{}/api/cart/items", shop.cart),
            Some(&token),
            None,
            Some(json!({"productId": p.id(), "quantity": 2})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let first = shop.checkout(&token, "cart-retry", None, GOOD_CARD).await;
    assert_eq!(first.0, StatusCode::CREATED, "{}", first.1);
    let again = shop.checkout(&token, "cart-retry", None, GOOD_CARD).await;
    assert_eq!(first, again);
    assert_eq!(shop.orders_and_payments().await, (1, 1));
    assert_eq!(shop.stock(p).await, (8, 0));

    // A new key for the same (now empty) cart is refused as before.
    let (status, body) = shop.checkout(&token, "cart-new", None, GOOD_CARD).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "cart_empty");
}

#[tokio::test]
async fn an_order_becomes_paid_only_together_with_its_outbox_event() {
    let shop = start().await;
    let (_, token) = shop.customer();
    let p = product(12);
    shop.set_stock(p, 5).await;
    // Make writing the `order.paid` event fail, as a crash between the two writes would.
    let pool = sqlx::PgPool::connect(&shop.orders_db).await.unwrap();
    sqlx::query(
        "ALTER TABLE order_events ADD CONSTRAINT refuse_paid CHECK (event_type <> 'order.paid')",
    )
    .execute(&pool)
    .await
    .unwrap();

    let (status, body) = shop
        .checkout(&token, "atomic", Some(items(&[(p, 1)])), GOOD_CARD)
        .await;
    assert!(status.is_server_error(), "{status} {body}");
    let (order_status, answered): (String, Option<i32>) =
        sqlx::query_as("SELECT status, response_status FROM orders")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        order_status, "pending",
        "the status change rolled back with the event"
    );
    assert_eq!(answered, None, "no answer was stored either");
    assert_eq!(
        shop.count(&shop.orders_db, "SELECT count(*) FROM order_events")
            .await,
        0
    );
    // Still pending, so a retry is told to wait, not given a paid order without its event.
    let (status, body) = shop
        .checkout(&token, "atomic", Some(items(&[(p, 1)])), GOOD_CARD)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "order_in_progress");
    pool.close().await;
}

#[tokio::test]
async fn declined_card_fails_the_order_and_releases_the_stock() {
    let shop = start().await;
    let (_, token) = shop.customer();
    let p = product(1);
    shop.set_stock(p, 4).await;

    let (status, body) = shop
        .checkout(&token, "declined", Some(items(&[(p, 2)])), DECLINED_CARD)
        .await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
    assert_eq!(body["error"]["code"], "payment_declined");
    let order_id = body["error"]["details"]["orderId"]
        .as_str()
        .unwrap()
        .to_string();

    let order = shop.order(&token, &order_id).await;
    assert_eq!(order["status"], "failed");
    assert_eq!(order["failureReason"], "card_declined");
    assert_eq!(
        shop.stock(p).await,
        (4, 0),
        "declined orders must give their stock back"
    );
    let payments = shop.payments_of(&order_id).await;
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0]["status"], "declined");
}

#[tokio::test]
async fn out_of_stock_is_409_and_nothing_is_charged_or_held() {
    let shop = start().await;
    let (_, token) = shop.customer();
    let (short, plenty) = (product(2), product(3));
    shop.set_stock(short, 1).await;
    shop.set_stock(plenty, 10).await;

    let (status, body) = shop
        .checkout(
            &token,
            "oos",
            Some(items(&[(short, 2), (plenty, 1)])),
            GOOD_CARD,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "out_of_stock");
    let order_id = body["error"]["details"]["orderId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        body["error"]["details"]["products"]
            .to_string()
            .contains(&short.id().to_string()),
        "{body}"
    );

    assert!(
        shop.payments_of(&order_id).await.is_empty(),
        "no charge for an order we cannot fill"
    );
    assert_eq!(shop.stock(short).await, (1, 0));
    assert_eq!(shop.stock(plenty).await, (10, 0));
    assert_eq!(
        shop.order(&token, &order_id).await["failureReason"],
        "out_of_stock"
    );
}

#[tokio::test]
async fn the_same_key_twice_gives_one_order_one_charge_and_the_same_answer() {
    let shop = start().await;
    let (_, token) = shop.customer();
    let p = product(4);
    shop.set_stock(p, 10).await;

    let first = shop
        .checkout(&token, "retry-me", Some(items(&[(p, 1)])), GOOD_CARD)
        .await;
    let second = shop
        .checkout(&token, "retry-me", Some(items(&[(p, 1)])), GOOD_CARD)
        .await;
    assert_eq!(first.0, StatusCode::CREATED);
    assert_eq!(first, second);
    assert_eq!(
        shop.payments_of(first.1["id"].as_str().unwrap())
            .await
            .len(),
        1
    );
    assert_eq!(shop.stock(p).await, (9, 0));
    assert_eq!(
        shop.count(&shop.orders_db, "SELECT count(*) FROM orders")
            .await,
        1
    );

    // A declined attempt replays its decline too.
    let d1 = shop
        .checkout(
            &token,
            "declined-twice",
            Some(items(&[(p, 1)])),
            DECLINED_CARD,
        )
        .await;
    let d2 = shop
        .checkout(
            &token,
            "declined-twice",
            Some(items(&[(p, 1)])),
            DECLINED_CARD,
        )
        .await;
    assert_eq!(d1.0, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(d1, d2);
}

#[tokio::test]
async fn concurrent_requests_with_one_key_place_one_order() {
    let shop = start().await;
    let (_, token) = shop.customer();
    let p = product(6);
    shop.set_stock(p, 10).await;
    let attempts =
        (0..8).map(|_| shop.checkout(&token, "burst", Some(items(&[(p, 1)])), GOOD_CARD));
    let answers = futures::future::join_all(attempts).await;
    let created = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert!(created >= 1, "{answers:?}");
    for (status, body) in &answers {
        assert!(
            *status == StatusCode::CREATED
                || (*status == StatusCode::CONFLICT
                    && body["error"]["code"] == "order_in_progress"),
            "{status} {body}"
        );
    }
    assert_eq!(shop.orders_and_payments().await, (1, 1));
    assert_eq!(shop.stock(p).await, (9, 0));
}

#[tokio::test]
async fn a_key_reused_for_a_different_order_is_refused() {
    let shop = start().await;
    let (_, token) = shop.customer();
    let (a, b) = (product(7), product(8));
    shop.set_stock(a, 5).await;
    shop.set_stock(b, 5).await;
    assert_eq!(
        shop.checkout(&token, "k", Some(items(&[(a, 1)])), GOOD_CARD)
            .await
            .0,
        StatusCode::CREATED
    );
    let (status, body) = shop
        .checkout(&token, "k", Some(items(&[(b, 1)])), GOOD_CARD)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "idempotency_key_reused");
    assert_eq!(shop.stock(b).await, (5, 0));
}

#[tokio::test]
async fn bad_checkout_input_is_refused_before_anything_is_written() {
    let shop = start().await;
    let (_, token) = shop.customer();
    let p = product(9);
    shop.set_stock(p, 5).await;
    let url = format!("{}/api/orders", shop.orders);
    let card = json!({"cardNumber": GOOD_CARD, "expMonth": 12, "expYear": 2030, "cvc": "123"});

    let cases = [
        (
            Some("k1"),
            json!({"items": [{"productId": p.id(), "quantity": 1}], "payment": {"cardNumber": "4242424242424241", "expMonth": 12, "expYear": 2030, "cvc": "123"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_card",
        ),
        (
            Some("k2"),
            json!({"items": [{"productId": p.id(), "quantity": 0}], "payment": card}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            Some("k3"),
            json!({"items": [{"productId": p.id(), "quantity": -5}], "payment": card}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            Some("k4"),
            json!({"items": [{"productId": p.id(), "quantity": 1_000_000_000_000u64}], "payment": card}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            Some("k5"),
            json!({"items": [{"productId": "not-a-uuid", "quantity": 1}], "payment": card}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            Some("k6"),
            json!({"items": [{"productId": uuid::Uuid::new_v4(), "quantity": 1}], "payment": card}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            Some("k7"),
            json!({"items": [], "payment": card}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            Some("k8"),
            json!({"payment": card}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "cart_empty",
        ),
        (
            None,
            json!({"items": [{"productId": p.id(), "quantity": 1}], "payment": card}),
            StatusCode::BAD_REQUEST,
            "missing_idempotency_key",
        ),
        (
            Some("two words"),
            json!({"items": [{"productId": p.id(), "quantity": 1}], "payment": card}),
            StatusCode::BAD_REQUEST,
            "bad_idempotency_key",
        ),
    ];
    for (key, body, status, code) in cases {
        let (got, answer) = shop
            .call(
                Method::POST,
                url.clone(),
                Some(&token),
                key,
                Some(body.clone()),
            )
            .await;
        assert_eq!(got, status, "{body} -> {answer}");
        assert_eq!(answer["error"]["code"], code, "{body} -> {answer}");
    }
    let resp = shop
        .http
        .post(&url)
        .bearer_auth(&token)
        .header("Idempotency-Key", "k9")
        .header("content-type", "application/json")
        .body("{\"items\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let (status, _) = shop
        .call(
            Method::POST,
            url.clone(),
            None,
            Some("k10"),
            Some(json!({"payment": card})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    assert_eq!(shop.orders_and_payments().await, (0, 0));
    assert_eq!(shop.stock(p).await, (5, 0));
}

#[tokio::test]
async fn cancelling_a_paid_order_refunds_and_restocks_once() {
    let shop = start().await;
    let (_, token) = shop.customer();
    let p = product(11);
    shop.set_stock(p, 3).await;
    let (_, order) = shop
        .checkout(&token, "to-cancel", Some(items(&[(p, 2)])), GOOD_CARD)
        .await;
    let id = order["id"].as_str().unwrap().to_string();
    assert_eq!(shop.stock(p).await, (1, 0));

    let cancel = format!("{}/api/orders/{id}/cancel", shop.orders);
    let (status, cancelled) = shop
        .call(Method::POST, cancel.clone(), Some(&token), None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    let (status, again) = shop
        .call(Method::POST, cancel, Some(&token), None, None)
        .await;
    assert_eq!(
        (status, again["status"].clone()),
        (StatusCode::OK, json!("cancelled"))
    );

    assert_eq!(shop.stock(p).await, (3, 0), "stock comes back exactly once");
    let payments = shop.payments_of(&id).await;
    assert_eq!(payments[0]["status"], "refunded");
    assert_eq!(
        shop.count(&shop.payments_db, "SELECT count(*) FROM refunds")
            .await,
        1
    );
}

#[tokio::test]
async fn admins_move_orders_through_fulfilment_and_nobody_else_can() {
    let shop = start().await;
    let (_, token) = shop.customer();
    let p = product(12);
    shop.set_stock(p, 3).await;
    let (_, order) = shop
        .checkout(&token, "ship-me", Some(items(&[(p, 1)])), GOOD_CARD)
        .await;
    let url = format!(
        "{}/api/orders/{}/status",
        shop.orders,
        order["id"].as_str().unwrap()
    );

    let (status, _) = shop
        .call(
            Method::PUT,
            url.clone(),
            Some(&token),
            None,
            Some(json!({"status": "shipped"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = shop
        .call(
            Method::PUT,
            url.clone(),
            Some(&shop.admin),
            None,
            Some(json!({"status": "delivered"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::CONFLICT, json!("illegal_transition"))
    );
    let (status, body) = shop
        .call(
            Method::PUT,
            url.clone(),
            Some(&shop.admin),
            None,
            Some(json!({"status": "lost"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    for next in ["shipped", "delivered"] {
        let (status, body) = shop
            .call(
                Method::PUT,
                url.clone(),
                Some(&shop.admin),
                None,
                Some(json!({"status": next})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], next);
    }
    let cancel = format!(
        "{}/api/orders/{}/cancel",
        shop.orders,
        order["id"].as_str().unwrap()
    );
    let (status, _) = shop
        .call(Method::POST, cancel, Some(&token), None, None)
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "delivered orders cannot be cancelled"
    );
}

#[tokio::test]
async fn customers_see_only_their_own_orders() {
    let shop = start().await;
    let (alice, alice_token) = shop.customer();
    let (_, bob_token) = shop.customer();
    let p = product(13);
    shop.set_stock(p, 5).await;
    let (_, order) = shop
        .checkout(&alice_token, "a1", Some(items(&[(p, 1)])), GOOD_CARD)
        .await;
    let id = order["id"].as_str().unwrap();

    let (status, _) = shop
        .orders_call(
            Method::GET,
            &format!("/api/orders/{id}"),
            Some(&bob_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = shop
        .orders_call(
            Method::GET,
            &format!("/api/orders/user/{alice}"),
            Some(&bob_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, list) = shop
        .orders_call(
            Method::GET,
            &format!("/api/orders/user/{alice}"),
            Some(&shop.admin),
            None,
        )
        .await;
    assert_eq!(
        (status, list["items"].as_array().unwrap().len()),
        (StatusCode::OK, 1)
    );
    let (_, mine) = shop
        .orders_call(Method::GET, "/api/orders", Some(&alice_token), None)
        .await;
    assert_eq!(mine["items"][0]["id"], order["id"]);
    let (_, theirs) = shop
        .orders_call(Method::GET, "/api/orders", Some(&bob_token), None)
        .await;
    assert_eq!(theirs["items"].as_array().unwrap().len(), 0);
    let (status, _) = shop
        .orders_call(
            Method::GET,
            "/api/orders/not-a-uuid",
            Some(&bob_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn order_events_reach_the_stream_through_the_outbox() {
    let shop = start().await;
    let (_, token) = shop.customer();
    let p = product(14);
    shop.set_stock(p, 5).await;
    let (_, order) = shop
        .checkout(&token, "events", Some(items(&[(p, 1)])), GOOD_CARD)
        .await;
    let (_, _) = shop
        .checkout(
            &token,
            "events-declined",
            Some(items(&[(p, 1)])),
            DECLINED_CARD,
        )
        .await;
    let id = order["id"].as_str().unwrap().to_string();

    let client = redis::Client::open(shop.redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let published = eventually(std::time::Duration::from_secs(10), || {
        let mut conn = conn.clone();
        async move {
            let entries: redis::Value = redis::cmd("XRANGE")
                .arg(storefront_orders::outbox::STREAM)
                .arg("-")
                .arg("+")
                .query_async(&mut conn)
                .await
                .unwrap();
            let text = format!("{entries:?}");
            text.contains("order.paid") && text.contains("order.failed")
        }
    })
    .await;
    assert!(published, "order.paid and order.failed should be published");
    let _: () = redis::cmd("PING").query_async(&mut conn).await.unwrap();
    assert_eq!(
        shop.count(
            &shop.orders_db,
            "SELECT count(*) FROM order_events WHERE published_at IS NULL"
        )
        .await,
        0
    );
    assert_eq!(
        shop.count(&shop.orders_db, &format!("SELECT count(*) FROM order_events WHERE order_id = '{id}' AND event_type = 'order.paid'")).await,
        1
    );
}

#[tokio::test]
async fn metrics_count_how_checkouts_end_and_what_the_saga_took_back() {
    let shop = start().await;
    let (_, token) = shop.customer();
    let p = product(2);
    shop.set_stock(p, 5).await;
    let (status, _) = shop
        .checkout(&token, "m-paid", Some(items(&[(p, 1)])), GOOD_CARD)
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = shop
        .checkout(&token, "m-paid", Some(items(&[(p, 1)])), GOOD_CARD)
        .await;
    assert_eq!(status, StatusCode::CREATED, "the replay answers alike");
    let (status, _) = shop
        .checkout(&token, "m-declined", Some(items(&[(p, 1)])), DECLINED_CARD)
        .await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    let (status, _) = shop
        .checkout(&token, "m-too-many", Some(items(&[(p, 50)])), GOOD_CARD)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let text = shop.metrics_of(&shop.orders).await;
    let count = |outcome: &str| {
        storefront_testkit::metric_sample(&text, "orders_checkouts_total", &[("outcome", outcome)])
    };
    assert_eq!(count("paid"), Some(1.0), "{text}");
    assert_eq!(count("replayed"), Some(1.0), "{text}");
    assert_eq!(count("card_declined"), Some(1.0), "{text}");
    assert_eq!(count("out_of_stock"), Some(1.0), "{text}");
    assert_eq!(count("error"), Some(0.0), "{text}");
    assert_eq!(
        storefront_testkit::metric_sample(
            &text,
            "orders_compensations_total",
            &[("action", "release_stock")]
        ),
        Some(1.0),
        "the declined card gave its reservation back: {text}"
    );
}
