//! Many reservations at once never oversell and never deadlock.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use std::time::Duration;

use futures::future::join_all;
use storefront_common::ids::ProductId;
use support::start;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_buyers_for_ten_units_get_exactly_ten() {
    let app = start().await;
    let product = app.product(10).await;
    let attempts = (0..50).map(|_| async {
        app.reserve(Uuid::new_v4(), &[(product, 1)])
            .await
            .status()
            .as_u16()
    });
    let statuses = join_all(attempts).await;
    let won = statuses.iter().filter(|s| **s == 201).count();
    let refused = statuses.iter().filter(|s| **s == 409).count();
    assert_eq!((won, refused), (10, 40), "{statuses:?}");
    assert_eq!(app.levels(product).await, (0, 10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_multi_item_reservations_in_any_order_neither_deadlock_nor_oversell() {
    let app = start().await;
    let mut products = Vec::new();
    for _ in 0..4 {
        products.push(app.product(20).await);
    }
    // Each request takes one unit of three of the four products, listed in a rotating order,
    // so that a naive implementation locking rows in request order would deadlock.
    let attempts = (0..40).map(|i| {
        let picked: Vec<(ProductId, i64)> = (0..3)
            .map(|k| (products[(i + k * if i % 2 == 0 { 1 } else { 3 }) % 4], 1))
            .collect();
        let app = &app;
        async move {
            let id = Uuid::new_v4();
            let status = app.reserve(id, &picked).await.status().as_u16();
            (status, picked)
        }
    });
    let outcomes = tokio::time::timeout(Duration::from_secs(60), join_all(attempts))
        .await
        .expect("reservations stalled: deadlock?");

    let mut expected_taken = [0i64; 4];
    for (status, picked) in &outcomes {
        assert!(*status == 201 || *status == 409, "unexpected {status}");
        if *status == 201 {
            for (p, q) in picked {
                let idx = products.iter().position(|x| x == p).unwrap();
                expected_taken[idx] += q;
            }
        }
    }
    for (idx, product) in products.iter().enumerate() {
        let (available, reserved) = app.levels(*product).await;
        assert_eq!(
            reserved, expected_taken[idx],
            "reserved units match successes"
        );
        assert_eq!(available + reserved, 20, "no unit created or lost");
        assert!(available >= 0);
    }
    // 40 requests x 3 units = 120 wanted of 80 on the shelf: some must have been refused.
    assert!(outcomes.iter().any(|(s, _)| *s == 409));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_commits_and_releases_apply_exactly_one_transition() {
    let app = start().await;
    let product = app.product(10).await;
    let id = Uuid::new_v4();
    assert_eq!(app.reserve(id, &[(product, 3)]).await.status(), 201);

    let racers = (0..20).map(|i| {
        let app = &app;
        let action = if i % 2 == 0 { "commit" } else { "release" };
        async move { (action, app.act(id, action).await.status().as_u16()) }
    });
    let outcomes = join_all(racers).await;
    let ok = |action: &str| {
        outcomes
            .iter()
            .filter(|(a, s)| *a == action && *s == 200)
            .count()
    };
    let (commits, releases) = (ok("commit"), ok("release"));
    assert!(
        (commits, releases) == (10, 0) || (commits, releases) == (0, 10),
        "one side must win everything: {outcomes:?}"
    );
    assert!(outcomes.iter().all(|(_, s)| *s == 200 || *s == 409));
    let expected = if commits == 10 { (7, 0) } else { (10, 0) };
    assert_eq!(app.levels(product).await, expected);
}
