//! The payments HTTP contract end to end: charges and declines, card checks, idempotency,
//! refunds, who may see what, and that the card number never lands anywhere.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use serde_json::json;
use storefront_common::ids::OrderId;
use storefront_testkit::app::error_code;
use support::{GOOD, card, read, start, usd};

#[tokio::test]
async fn a_good_card_is_charged_and_answers_201() {
    let app = start().await;
    let order = OrderId::new();
    let (status, body) = read(
        app.pay(
            &app.alice,
            "k1",
            json!({"orderId": order, "amount": usd(1999), "card": card("4242 4242 4242 4242")}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "succeeded");
    assert_eq!(body["orderId"], json!(order));
    assert_eq!(body["userId"], json!(app.alice.id));
    assert_eq!(body["amount"], usd(1999));
    assert_eq!(body["cardBrand"], "visa");
    assert_eq!(body["cardLast4"], "4242");
    assert!(body.get("declineCode").is_none(), "{body}");
    assert!(body["id"].is_string() && body["createdAt"].is_string());
}

#[tokio::test]
async fn both_decline_cards_are_recorded_as_declined_payments_with_their_codes() {
    let app = start().await;
    for (number, code) in [
        ("4000000000000002", "card_declined"),
        ("4000-0000-0000-9995", "insufficient_funds"),
    ] {
        let order = OrderId::new();
        let (status, body) = read(
            app.charge(code, order, app.alice.id, 500, card(number))
                .await,
        )
        .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["status"], "declined");
        assert_eq!(body["declineCode"], code);

        let (status, again) = read(
            app.charge(code, order, app.alice.id, 500, card(number))
                .await,
        )
        .await;
        assert_eq!(status, 200, "a replayed decline gives the same answer");
        assert_eq!(again, body);
    }
    assert_eq!(app.payment_rows().await, 2);
}

#[tokio::test]
async fn each_bad_card_field_is_a_422_naming_the_field_and_nothing_is_stored() {
    let app = start().await;
    let mut cases = Vec::new();
    let mut with = |field: &str, value: serde_json::Value, named: &str| {
        let mut c = card(GOOD);
        c[field] = value;
        cases.push((c, named.to_string()));
    };
    with("cardNumber", json!("4242 4242 42"), "cardNumber");
    with("cardNumber", json!("4242424242424241"), "cardNumber");
    with("cardNumber", json!("4242x24242424242"), "cardNumber");
    with("cardNumber", json!("42424242424242424242"), "cardNumber");
    with("expMonth", json!(13), "expMonth");
    with("expMonth", json!(0), "expMonth");
    with("expYear", json!(2020), "expYear");
    with("expYear", json!(2999), "expYear");
    with("cvc", json!("12"), "cvc");
    with("cvc", json!("12345"), "cvc");
    with("cvc", json!("12a"), "cvc");
    for (i, (c, named)) in cases.into_iter().enumerate() {
        let (status, body) = read(
            app.pay(
                &app.alice,
                &format!("bad-{i}"),
                json!({"orderId": OrderId::new(), "amount": usd(100), "card": c}),
            )
            .await,
        )
        .await;
        assert_eq!(status, 422, "{c} -> {body}");
        assert_eq!(body["error"]["code"], "invalid_card", "{c}");
        assert_eq!(body["error"]["details"]["field"], named, "{c}");
    }
    assert_eq!(app.payment_rows().await, 0);
}

#[tokio::test]
async fn malformed_or_out_of_range_charges_are_refused_without_a_row() {
    let app = start().await;
    let body = |amount: serde_json::Value| json!({"orderId": OrderId::new(), "amount": amount, "card": card(GOOD)});
    for amount in [
        usd(0),
        usd(-5),
        usd(100_000_001),
        json!({"amount": "10", "currency": "USD"}),
        json!({"amount": 1e30, "currency": "USD"}),
        json!({"amount": 10, "currency": "usd"}),
        json!(10),
    ] {
        let (status, answer) = read(app.pay(&app.alice, "k", body(amount.clone())).await).await;
        assert_eq!(status, 422, "{amount} -> {answer}");
    }
    let (status, _) = read(
        app.pay(
            &app.alice,
            "k",
            json!({"orderId": "nope", "amount": usd(1), "card": card(GOOD)}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);

    let res = app
        .http
        .post(app.url("/api/payments"))
        .bearer_auth(&app.alice.token)
        .header("idempotency-key", "k")
        .header("content-type", "application/json")
        .body("{\"orderId\": \"")
        .send()
        .await
        .unwrap();
    assert_eq!(read(res).await.0, 400);

    let res = app
        .http
        .post(app.url("/api/payments"))
        .bearer_auth(&app.alice.token)
        .json(&body(usd(100)))
        .send()
        .await
        .unwrap();
    let (status, answer) = read(res).await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"]["code"], "missing_idempotency_key");

    // A malformed key is refused the same way in a header and in an internal route's body.
    let (status, answer) = read(app.pay(&app.alice, "two words", body(usd(100))).await).await;
    assert_eq!((status, error_code(&answer)), (400, "bad_idempotency_key"));
    let order = OrderId::new();
    let (status, answer) = read(
        app.charge(&"k".repeat(201), order, app.alice.id, 100, card(GOOD))
            .await,
    )
    .await;
    assert_eq!((status, error_code(&answer)), (400, "bad_idempotency_key"));
    let (status, answer) = read(app.refund(order, "").await).await;
    assert_eq!((status, error_code(&answer)), (400, "bad_idempotency_key"));
    assert_eq!(app.payment_rows().await, 0, "a refused key stores nothing");

    let mut huge = body(usd(100));
    huge["pad"] = json!("x".repeat(70 * 1024));
    let (status, _) = read(app.pay(&app.alice, "k", huge).await).await;
    assert_eq!(status, 413);

    let res = app
        .http
        .post(app.url("/api/payments"))
        .header("idempotency-key", "k")
        .json(&body(usd(100)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    assert_eq!(app.payment_rows().await, 0);
}

#[tokio::test]
async fn a_replay_returns_the_stored_payment_and_writes_one_row() {
    let app = start().await;
    let request = json!({"orderId": OrderId::new(), "amount": usd(2500), "card": card(GOOD)});
    let (first_status, first) = read(app.pay(&app.alice, "replay", request.clone()).await).await;
    assert_eq!(first_status, 201);
    let (status, again) = read(app.pay(&app.alice, "replay", request).await).await;
    assert_eq!(status, 200);
    assert_eq!(again, first);
    assert_eq!(app.payment_rows().await, 1);
}

#[tokio::test]
async fn reusing_a_key_for_another_amount_or_order_is_a_conflict() {
    let app = start().await;
    let order = OrderId::new();
    let first = app
        .charge("key", order, app.alice.id, 1000, card(GOOD))
        .await;
    assert_eq!(first.status(), 201);
    for (o, amount) in [(order, 1001), (OrderId::new(), 1000)] {
        let (status, body) =
            read(app.charge("key", o, app.alice.id, amount, card(GOOD)).await).await;
        assert_eq!(status, 422);
        assert_eq!(body["error"]["code"], "idempotency_key_reused");
    }
    assert_eq!(app.payment_rows().await, 1);
}

#[tokio::test]
async fn customers_keys_are_their_own() {
    let app = start().await;
    let alice_order = OrderId::new();
    let bob_order = OrderId::new();
    let pay = |order| json!({"orderId": order, "amount": usd(100), "card": card(GOOD)});
    assert_eq!(
        app.pay(&app.alice, "same", pay(alice_order)).await.status(),
        201
    );
    assert_eq!(
        app.pay(&app.bob, "same", pay(bob_order)).await.status(),
        201
    );
    assert_eq!(app.payment_rows().await, 2);
}

#[tokio::test]
async fn an_order_is_paid_at_most_once_even_under_another_key() {
    let app = start().await;
    let order = OrderId::new();
    assert_eq!(
        app.charge("a", order, app.alice.id, 100, card(GOOD))
            .await
            .status(),
        201
    );
    let (status, body) = read(app.charge("b", order, app.alice.id, 100, card(GOOD)).await).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "order_already_paid");
    // A declined attempt does not count as paid, so a retry with a good card goes through.
    let other = OrderId::new();
    assert_eq!(
        read(
            app.charge("c", other, app.alice.id, 100, card("4000000000000002"))
                .await
        )
        .await
        .1["status"],
        "declined"
    );
    assert_eq!(
        app.charge("d", other, app.alice.id, 100, card(GOOD))
            .await
            .status(),
        201
    );
    assert_eq!(app.payment_rows().await, 3);
}

#[tokio::test]
async fn refund_is_full_once_and_idempotent() {
    let app = start().await;
    let order = OrderId::new();
    let (_, paid) = read(
        app.charge("pay", order, app.alice.id, 4200, card(GOOD))
            .await,
    )
    .await;

    let (status, refunded) = read(app.refund(order, "refund-1").await).await;
    assert_eq!(status, 200, "{refunded}");
    assert_eq!(refunded["status"], "refunded");
    assert_eq!(refunded["id"], paid["id"]);
    assert_eq!(refunded["amount"], usd(4200));

    for key in ["refund-1", "refund-2"] {
        let (status, again) = read(app.refund(order, key).await).await;
        assert_eq!(status, 200);
        assert_eq!(again, refunded);
    }
    let pool = sqlx::PgPool::connect(app.database_url()).await.unwrap();
    let refunds: i64 = sqlx::query_scalar("SELECT count(*) FROM refunds")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(refunds, 1);

    // The charge's own replay now shows what became of it.
    let (status, replay) = read(
        app.charge("pay", order, app.alice.id, 4200, card(GOOD))
            .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(replay["status"], "refunded");

    let other = OrderId::new();
    app.charge("pay-2", other, app.alice.id, 100, card(GOOD))
        .await;
    let (status, body) = read(app.refund(other, "refund-1").await).await;
    assert_eq!(status, 422, "a refund key belongs to one order");
    assert_eq!(body["error"]["code"], "idempotency_key_reused");
}

#[tokio::test]
async fn refund_without_a_successful_payment_is_404() {
    let app = start().await;
    let (status, body) = read(app.refund(OrderId::new(), "r").await).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "no_payment");

    let declined = OrderId::new();
    app.charge("d", declined, app.alice.id, 100, card("4000000000000002"))
        .await;
    let (status, body) = read(app.refund(declined, "r").await).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "no_payment");
    assert_eq!(app.database_text().await.matches("refunded").count(), 0);
}

#[tokio::test]
async fn the_full_card_number_is_never_stored_or_returned() {
    let app = start().await;
    let number = "4111111111111111";
    let order = OrderId::new();
    let (status, body) = read(
        app.pay(
            &app.alice,
            "secret",
            json!({"orderId": order, "amount": usd(100), "card": card(number)}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201);
    let (_, refund) = read(app.refund(order, "secret-refund").await).await;
    let (_, listed) = read(
        app.http
            .get(app.url(&format!("/api/payments/{order}")))
            .bearer_auth(&app.alice.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let stored = app.database_text().await;
    assert!(
        stored.contains("\"card_last4\":\"1111\""),
        "the scan must see the rows: {stored}"
    );
    for text in [
        stored,
        body.to_string(),
        refund.to_string(),
        listed.to_string(),
    ] {
        assert!(!text.contains("41111111111"), "card number leaked: {text}");
        assert!(!text.contains("\"123\""), "cvc leaked: {text}");
    }
}

#[tokio::test]
async fn customers_see_only_their_own_payments_and_admins_see_all() {
    let app = start().await;
    let order = OrderId::new();
    app.pay(
        &app.alice,
        "k",
        json!({"orderId": order, "amount": usd(100), "card": card(GOOD)}),
    )
    .await;
    let get = |token: Option<&str>, path: String| {
        let req = app.http.get(app.url(&path));
        let req = match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        async move { read(req.send().await.unwrap()).await }
    };
    let path = format!("/api/payments/{order}");

    let (status, mine) = get(Some(&app.alice.token), path.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let (status, all) = get(Some(&app.admin.token), path.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(all, mine);
    // Another customer learns nothing, not even that the order has payments: 404, not 403.
    let (status, body) = get(Some(&app.bob.token), path.clone()).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(get(None, path).await.0, 401);
    assert_eq!(
        get(
            Some(&app.alice.token),
            format!("/api/payments/{}", OrderId::new())
        )
        .await
        .0,
        404
    );
    assert_eq!(
        get(Some(&app.alice.token), "/api/payments/not-an-id".into())
            .await
            .0,
        400
    );
}

#[tokio::test]
async fn the_internal_listing_serves_crash_recovery() {
    let app = start().await;
    let order = OrderId::new();
    app.charge("x", order, app.alice.id, 100, card("4000000000000002"))
        .await;
    app.charge("y", order, app.alice.id, 100, card(GOOD)).await;
    let res = app
        .http
        .get(app.url(&format!("/internal/payments?orderId={order}")))
        .bearer_auth(&app.service)
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(status, 200);
    let statuses: Vec<_> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(statuses, ["declined", "succeeded"]);

    let res = app
        .http
        .get(app.url(&format!("/internal/payments?orderId={}", OrderId::new())))
        .bearer_auth(&app.service)
        .send()
        .await
        .unwrap();
    assert_eq!(read(res).await.1, json!({"items": []}));
    for query in ["", "?orderId=nope"] {
        let res = app
            .http
            .get(app.url(&format!("/internal/payments{query}")))
            .bearer_auth(&app.service)
            .send()
            .await
            .unwrap();
        assert_eq!(read(res).await.0, 400, "{query}");
    }
}

#[tokio::test]
async fn internal_routes_refuse_everyone_but_services() {
    let app = start().await;
    let order = OrderId::new();
    let charge = json!({
        "orderId": order, "userId": app.alice.id, "amount": usd(100),
        "card": card(GOOD), "idempotencyKey": "k",
    });
    let refund = json!({"orderId": order, "idempotencyKey": "r"});
    for token in [None, Some(&app.alice.token), Some(&app.admin.token)] {
        let expected = if token.is_none() { 401 } else { 403 };
        let requests = [
            app.http.post(app.url("/internal/charges")).json(&charge),
            app.http.post(app.url("/internal/refunds")).json(&refund),
            app.http
                .get(app.url(&format!("/internal/payments?orderId={order}"))),
        ];
        for req in requests {
            let req = match token {
                Some(t) => req.bearer_auth(t),
                None => req,
            };
            assert_eq!(req.send().await.unwrap().status(), expected);
        }
    }
    assert_eq!(app.payment_rows().await, 0);
}
