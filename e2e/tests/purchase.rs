//! A customer buys through the Istio ingress, and the purchase is one trace in Jaeger that
//! crosses the services of the checkout saga.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::Duration;

use storefront_e2e::platform::{self, wait_for};
use storefront_e2e::shop::Customer;
use storefront_e2e::{cluster_or_skip, trace};

#[tokio::test]
async fn a_purchase_through_the_ingress_is_one_trace_across_the_saga() {
    let Some(cluster) =
        cluster_or_skip("a_purchase_through_the_ingress_is_one_trace_across_the_saga").await
    else {
        return;
    };
    platform::wait_ready(&cluster, Duration::from_secs(600))
        .await
        .unwrap();

    let mut customer = Customer::new(&cluster).unwrap();
    customer.sign_up().await.unwrap();
    let purchase = customer.buy_something().await.unwrap();
    println!(
        "order {} paid, trace {}",
        purchase.order["id"], purchase.trace_id
    );

    let http = reqwest::Client::new();
    let expected = [
        ("gateway", "orders"),
        ("orders", "inventory"),
        ("orders", "payments"),
        ("orders", "catalog"),
    ];
    let edges = wait_for(
        "the checkout trace in Jaeger with the saga's edges",
        Duration::from_secs(120),
        || async {
            let answer = trace::fetch(&http, &cluster.jaeger_url, &purchase.trace_id).await?;
            let edges = trace::service_edges(&answer);
            let complete = expected
                .iter()
                .all(|(a, b)| edges.contains(&((*a).to_owned(), (*b).to_owned())));
            Ok(if complete {
                Ok(edges)
            } else {
                Err(format!("{edges:?}"))
            })
        },
    )
    .await
    .unwrap();
    println!("trace edges: {edges:?}");
}
