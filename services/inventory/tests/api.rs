//! The inventory HTTP contract end to end: stock, reservations and their transitions, and every
//! way a request can be refused.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use serde_json::json;
use storefront_common::demo::PRODUCTS;
use storefront_common::ids::ProductId;
use support::{App, read, start, start_on, start_with};
use uuid::Uuid;

#[tokio::test]
async fn stock_is_readable_by_anyone_and_unknown_products_are_404() {
    let app = start().await;
    let product = app.product(7).await;
    let (status, body) = read(
        app.http
            .get(app.url(&format!("/api/inventory/{product}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"productId": product, "available": 7, "reserved": 0})
    );

    let res = app
        .http
        .get(app.url(&format!("/api/inventory/{}", ProductId::new())))
        .send()
        .await
        .unwrap();
    assert_eq!(read(res).await.0, 404);

    let res = app
        .http
        .get(app.url("/api/inventory/not-a-uuid"))
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "bad_path");
}

#[tokio::test]
async fn setting_stock_needs_an_admin() {
    let app = start().await;
    let product = ProductId::new();
    let url = app.url(&format!("/api/inventory/{product}"));
    let body = json!({"available": 3});

    let res = app.http.put(&url).json(&body).send().await.unwrap();
    assert_eq!(read(res).await.0, 401);
    let res = app
        .http
        .put(&url)
        .bearer_auth(&app.customer)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(read(res).await.0, 403);
    let res = app
        .http
        .put(&url)
        .bearer_auth(&app.service)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(read(res).await.0, 403);

    let res = app.http.get(&url).send().await.unwrap();
    assert_eq!(
        read(res).await.0,
        404,
        "refused writes must leave nothing behind"
    );

    app.stock(product, 3).await;
    app.stock(product, 5).await;
    assert_eq!(app.levels(product).await, (5, 0));
}

#[tokio::test]
async fn setting_stock_keeps_units_held_by_reservations() {
    let app = start().await;
    let product = app.product(10).await;
    assert_eq!(
        app.reserve(Uuid::new_v4(), &[(product, 4)]).await.status(),
        201
    );
    app.stock(product, 2).await;
    assert_eq!(app.levels(product).await, (2, 4));
}

#[tokio::test]
async fn bad_stock_levels_are_refused() {
    let app = start().await;
    let product = app.product(1).await;
    let url = app.url(&format!("/api/inventory/{product}"));
    for (body, expected) in [
        (json!({"available": -1}), 422),
        (json!({"available": 1_000_001}), 422),
        (json!({"available": "5"}), 422),
        (json!({"available": 1e30}), 422),
        (json!({}), 422),
    ] {
        let res = app
            .http
            .put(&url)
            .bearer_auth(&app.admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(read(res).await.0, expected, "{body}");
    }
    let res = app
        .http
        .put(&url)
        .bearer_auth(&app.admin)
        .header("content-type", "application/json")
        .body("{\"available\": ")
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "malformed_json");
    assert_eq!(app.levels(product).await, (1, 0));
}

#[tokio::test]
async fn reserve_takes_every_item_and_answers_201() {
    let app = start().await;
    let a = app.product(5).await;
    let b = app.product(3).await;
    let id = Uuid::new_v4();
    let (status, body) = read(app.reserve(id, &[(a, 2), (b, 3)]).await).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["reservationId"], json!(id));
    assert_eq!(body["status"], "held");
    assert!(body["expiresAt"].is_string());
    assert_eq!(body["items"].as_array().unwrap().len(), 2);
    assert_eq!(app.levels(a).await, (3, 2));
    assert_eq!(app.levels(b).await, (0, 3));

    let res = app
        .http
        .get(app.url(&format!("/internal/reservations/{id}")))
        .bearer_auth(&app.service)
        .send()
        .await
        .unwrap();
    let (status, fetched) = read(res).await;
    assert_eq!(status, 200);
    assert_eq!(fetched, body);
}

#[tokio::test]
async fn reserve_is_all_or_nothing_when_one_item_is_short() {
    let app = start().await;
    let plenty = app.product(10).await;
    let scarce = app.product(1).await;
    let id = Uuid::new_v4();
    let (status, body) = read(app.reserve(id, &[(plenty, 2), (scarce, 3)]).await).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "out_of_stock");
    assert_eq!(
        body["error"]["details"]["products"],
        json!([{"productId": scarce, "requested": 3, "available": 1}])
    );
    assert_eq!(app.levels(plenty).await, (10, 0));
    assert_eq!(app.levels(scarce).await, (1, 0));
    let res = app
        .http
        .get(app.url(&format!("/internal/reservations/{id}")))
        .bearer_auth(&app.service)
        .send()
        .await
        .unwrap();
    assert_eq!(
        read(res).await.0,
        404,
        "a refused reservation is not stored"
    );
}

#[tokio::test]
async fn every_short_item_is_listed_and_unknown_products_have_zero_available() {
    let app = start().await;
    let scarce = app.product(2).await;
    let unknown = ProductId::new();
    let (status, body) = read(
        app.reserve(Uuid::new_v4(), &[(scarce, 5), (unknown, 1)])
            .await,
    )
    .await;
    assert_eq!(status, 409);
    let mut listed = body["error"]["details"]["products"]
        .as_array()
        .unwrap()
        .clone();
    listed.sort_by_key(|p| p["productId"].as_str().unwrap().to_string());
    let mut expected = vec![
        json!({"productId": scarce, "requested": 5, "available": 2}),
        json!({"productId": unknown, "requested": 1, "available": 0}),
    ];
    expected.sort_by_key(|p| p["productId"].as_str().unwrap().to_string());
    assert_eq!(listed, expected);
}

#[tokio::test]
async fn the_same_product_twice_is_merged_into_one_line() {
    let app = start().await;
    let product = app.product(5).await;
    let (status, body) = read(
        app.reserve(Uuid::new_v4(), &[(product, 2), (product, 3)])
            .await,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["items"],
        json!([{"productId": product, "quantity": 5}])
    );
    assert_eq!(app.levels(product).await, (0, 5));
}

#[tokio::test]
async fn an_identical_repeat_returns_the_existing_reservation_without_taking_more() {
    let app = start().await;
    let product = app.product(5).await;
    let id = Uuid::new_v4();
    let (first_status, first) = read(app.reserve(id, &[(product, 2)]).await).await;
    assert_eq!(first_status, 201);
    let (status, again) = read(app.reserve(id, &[(product, 1), (product, 1)]).await).await;
    assert_eq!(status, 200);
    assert_eq!(again, first);
    assert_eq!(app.levels(product).await, (3, 2));
}

#[tokio::test]
async fn the_same_id_with_other_items_is_a_conflict() {
    let app = start().await;
    let product = app.product(5).await;
    let id = Uuid::new_v4();
    assert_eq!(app.reserve(id, &[(product, 2)]).await.status(), 201);
    let (status, body) = read(app.reserve(id, &[(product, 3)]).await).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "reservation_conflict");
    assert_eq!(app.levels(product).await, (3, 2));
}

#[tokio::test]
async fn malformed_reservation_requests_are_refused_without_side_effects() {
    let app = start().await;
    let product = app.product(5).await;
    let line = |q: serde_json::Value| json!({"reservationId": Uuid::new_v4(), "items": [{"productId": product, "quantity": q}]});
    let many: Vec<_> = (0..101)
        .map(|_| json!({"productId": ProductId::new(), "quantity": 1}))
        .collect();
    let cases = [
        line(json!(0)),
        line(json!(-1)),
        line(json!(1001)),
        line(json!(1e30)),
        line(json!("2")),
        line(json!(1.5)),
        json!({"reservationId": Uuid::new_v4(), "items": []}),
        json!({"reservationId": Uuid::new_v4(), "items": many}),
        json!({"reservationId": "nope", "items": [{"productId": product, "quantity": 1}]}),
        json!({"reservationId": Uuid::new_v4(), "items": [{"productId": product, "quantity": 1}], "ttlSeconds": 0}),
        json!({"reservationId": Uuid::new_v4(), "items": [{"productId": product, "quantity": 1}], "ttlSeconds": 3601}),
        json!({"items": [{"productId": product, "quantity": 1}]}),
    ];
    for body in cases {
        let (status, answer) = read(app.reserve_body(body.clone()).await).await;
        assert_eq!(status, 422, "{body} -> {answer}");
    }

    let res = app
        .http
        .post(app.url("/internal/reservations"))
        .bearer_auth(&app.service)
        .header("content-type", "application/json")
        .body("{\"reservationId\": \"abc")
        .send()
        .await
        .unwrap();
    assert_eq!(read(res).await.0, 400);

    let huge = "x".repeat(70 * 1024);
    let res = app
        .reserve_body(json!({"reservationId": Uuid::new_v4(), "items": [], "pad": huge}))
        .await;
    assert_eq!(read(res).await.0, 413);

    assert_eq!(app.levels(product).await, (5, 0));
}

#[tokio::test]
async fn commit_keeps_units_gone_and_repeats_are_idempotent() {
    let app = start().await;
    let product = app.product(5).await;
    let id = Uuid::new_v4();
    app.reserve(id, &[(product, 2)]).await;

    let (status, body) = read(app.act(id, "commit").await).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "committed");
    assert_eq!(app.levels(product).await, (3, 0));

    let (status, body) = read(app.act(id, "commit").await).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "committed");
    assert_eq!(app.levels(product).await, (3, 0));

    let (status, body) = read(app.act(id, "release").await).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "reservation_committed");
    assert_eq!(app.levels(product).await, (3, 0));
}

#[tokio::test]
async fn release_puts_units_back_once_and_blocks_a_later_commit() {
    let app = start().await;
    let product = app.product(5).await;
    let id = Uuid::new_v4();
    app.reserve(id, &[(product, 2)]).await;

    for _ in 0..2 {
        let (status, body) = read(app.act(id, "release").await).await;
        assert_eq!(status, 200);
        assert_eq!(body["status"], "released");
        assert_eq!(app.levels(product).await, (5, 0));
    }

    let (status, body) = read(app.act(id, "commit").await).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "reservation_released");
    let (status, body) = read(app.act(id, "restock").await).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "reservation_released");
    assert_eq!(app.levels(product).await, (5, 0));
}

#[tokio::test]
async fn restock_returns_committed_units_once() {
    let app = start().await;
    let product = app.product(5).await;
    let id = Uuid::new_v4();
    app.reserve(id, &[(product, 2)]).await;

    let (status, body) = read(app.act(id, "restock").await).await;
    assert_eq!(status, 409, "a held reservation cannot be restocked");
    assert_eq!(body["error"]["code"], "reservation_not_committed");
    assert_eq!(app.levels(product).await, (3, 2));

    app.act(id, "commit").await;
    for _ in 0..2 {
        let (status, body) = read(app.act(id, "restock").await).await;
        assert_eq!(status, 200);
        assert_eq!(body["status"], "restocked");
        assert_eq!(app.levels(product).await, (5, 0));
    }
    let (status, body) = read(app.act(id, "commit").await).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "reservation_restocked");
    let (status, _) = read(app.act(id, "release").await).await;
    assert_eq!(status, 409);
    assert_eq!(app.levels(product).await, (5, 0));
}

#[tokio::test]
async fn unknown_reservations_are_404_and_malformed_ids_400() {
    let app = start().await;
    let unknown = Uuid::new_v4();
    for action in ["commit", "release", "restock"] {
        assert_eq!(read(app.act(unknown, action).await).await.0, 404);
    }
    let res = app
        .http
        .get(app.url(&format!("/internal/reservations/{unknown}")))
        .bearer_auth(&app.service)
        .send()
        .await
        .unwrap();
    assert_eq!(read(res).await.0, 404);
    let res = app
        .http
        .post(app.url("/internal/reservations/123/commit"))
        .bearer_auth(&app.service)
        .send()
        .await
        .unwrap();
    assert_eq!(read(res).await.0, 400);
}

#[tokio::test]
async fn internal_routes_refuse_customers_admins_and_anonymous_callers() {
    let app = start().await;
    let product = app.product(5).await;
    let id = Uuid::new_v4();
    let body = json!({"reservationId": id, "items": [{"productId": product, "quantity": 1}]});
    let requests = |token: Option<&str>| {
        let mut list = vec![
            app.http.post(app.url("/internal/reservations")).json(&body),
            app.http
                .get(app.url(&format!("/internal/reservations/{id}"))),
        ];
        for action in ["commit", "release", "restock"] {
            list.push(
                app.http
                    .post(app.url(&format!("/internal/reservations/{id}/{action}"))),
            );
        }
        list.into_iter()
            .map(|r| match token {
                Some(t) => r.bearer_auth(t),
                None => r,
            })
            .collect::<Vec<_>>()
    };
    for req in requests(None) {
        assert_eq!(req.send().await.unwrap().status(), 401);
    }
    for token in [&app.customer, &app.admin] {
        for req in requests(Some(token)) {
            assert_eq!(req.send().await.unwrap().status(), 403);
        }
    }
    let res = app
        .http
        .post(app.url("/internal/reservations"))
        .bearer_auth("not.a.token")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(app.levels(product).await, (5, 0));
}

#[tokio::test]
async fn demo_stock_is_seeded_once_and_never_overwritten() {
    let seeded = start_with(&[("STOREFRONT_SEED_DEMO", "true")]).await;
    let first = &PRODUCTS[0];
    assert_eq!(seeded.levels(first.id()).await, (i64::from(first.stock), 0));
    seeded.stock(first.id(), 1).await;

    let restarted: App = start_on(seeded.database_url(), &[("STOREFRONT_SEED_DEMO", "true")]).await;
    assert_eq!(restarted.levels(first.id()).await, (1, 0));
    let last = &PRODUCTS[PRODUCTS.len() - 1];
    assert_eq!(
        restarted.levels(last.id()).await,
        (i64::from(last.stock), 0)
    );
}
