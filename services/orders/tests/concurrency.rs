//! Many buyers, little stock: the saga never sells more than there is.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use reqwest::StatusCode;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_checkouts_for_ten_units_sell_exactly_ten() {
    let shop = start().await;
    let p = product(17);
    shop.set_stock(p, 10).await;
    let buyers: Vec<_> = (0..50).map(|_| shop.customer()).collect();
    let keys: Vec<String> = (0..buyers.len()).map(|i| format!("buy-{i}")).collect();
    let attempts = buyers
        .iter()
        .zip(&keys)
        .map(|((_, token), key)| shop.checkout(token, key, Some(items(&[(p, 1)])), GOOD_CARD));
    let answers = futures::future::join_all(attempts).await;

    let paid = answers
        .iter()
        .filter(|(s, b)| *s == StatusCode::CREATED && b["status"] == "paid")
        .count();
    let out_of_stock = answers
        .iter()
        .filter(|(s, b)| *s == StatusCode::CONFLICT && b["error"]["code"] == "out_of_stock")
        .count();
    assert_eq!(paid, 10, "{answers:?}");
    assert_eq!(out_of_stock, 40, "{answers:?}");
    assert_eq!(shop.stock(p).await, (0, 0));
    assert_eq!(
        shop.count(
            &shop.payments_db,
            "SELECT count(*) FROM payments WHERE status = 'succeeded'"
        )
        .await,
        10
    );
}
