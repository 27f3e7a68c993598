//! Progressive delivery on a live cluster: a good version of catalog walks the canary steps and
//! is promoted; a version that answers 500 (the `storefront-e2e-fault` image, tagged
//! `0.0.0-fault` by `scripts/images.sh` with E2E_IMAGES=1) is rolled back.
//!
//! Both run in one test, in order, because they change the same service of the same platform.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::Duration;

use storefront_e2e::platform::{self, wait_for};
use storefront_e2e::rollout::{Rollout, component_version};
use storefront_e2e::shop::Customer;
use storefront_e2e::{Cluster, cluster_or_skip};

const SERVICE: &str = "catalog";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// Catalog reads in the background while a rollout runs, so the analysis has traffic even
/// where loadgen is off.
fn keep_browsing(cluster: &Cluster) -> tokio::task::JoinHandle<()> {
    let customer = Customer::new(cluster).unwrap();
    tokio::spawn(async move {
        loop {
            customer.browse(10).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

async fn rollout(cluster: &Cluster) -> anyhow::Result<Result<Rollout, String>> {
    let platform = platform::get(cluster)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the platform is gone"))?;
    Ok(Rollout::of(&platform, SERVICE).ok_or_else(|| platform["status"].to_string()))
}

#[tokio::test]
async fn a_good_version_is_promoted_and_a_failing_one_rolled_back() {
    let Some(cluster) =
        cluster_or_skip("a_good_version_is_promoted_and_a_failing_one_rolled_back").await
    else {
        return;
    };
    let good = env_or("STOREFRONT_E2E_GOOD_VERSION", "0.3.0");
    let bad = env_or("STOREFRONT_E2E_FAULT_VERSION", "0.0.0-fault");
    let ready = platform::wait_ready(&cluster, Duration::from_secs(600))
        .await
        .unwrap();
    let before = component_version(&ready, SERVICE).expect("status.components.catalog.version");
    assert_ne!(
        before, good,
        "catalog already runs {good}; set STOREFRONT_E2E_GOOD_VERSION"
    );
    let traffic = keep_browsing(&cluster);

    // Promotion: the weight is seen between 0 and 100 on the way, then the new version is stable.
    platform::set_service_version(&cluster, SERVICE, &good)
        .await
        .unwrap();
    let split = wait_for(
        "a traffic split towards the canary",
        Duration::from_secs(300),
        || async {
            Ok(rollout(&cluster).await?.and_then(|r| {
                if r.splitting() {
                    Ok(r)
                } else {
                    Err(format!("{r:?}"))
                }
            }))
        },
    )
    .await
    .unwrap();
    println!(
        "canary {good} at {:?}% (step {:?})",
        split.canary_weight, split.step
    );
    wait_for(
        "the promotion of the canary",
        Duration::from_secs(900),
        || async {
            Ok(rollout(&cluster).await?.and_then(|r| {
                if r.promoted(&good) {
                    Ok(())
                } else {
                    Err(format!("{r:?}"))
                }
            }))
        },
    )
    .await
    .unwrap();
    let promoted = platform::wait_ready(&cluster, Duration::from_secs(300))
        .await
        .unwrap();
    assert_eq!(
        component_version(&promoted, SERVICE).as_deref(),
        Some(good.as_str())
    );

    // Rollback: the failing version never becomes stable.
    platform::set_service_version(&cluster, SERVICE, &bad)
        .await
        .unwrap();
    let rolled_back = wait_for(
        "the rollback of the failing canary",
        Duration::from_secs(900),
        || async {
            Ok(rollout(&cluster).await?.and_then(|r| {
                assert_ne!(
                    r.stable.as_deref(),
                    Some(bad.as_str()),
                    "the failing version was promoted: {r:?}"
                );
                if r.rolled_back(&bad, &good) {
                    Ok(r)
                } else {
                    Err(format!("{r:?}"))
                }
            }))
        },
    )
    .await
    .unwrap();
    println!("rolled back: {:?}", rolled_back.message);
    let after = platform::get(&cluster).await.unwrap().unwrap();
    assert_eq!(
        component_version(&after, SERVICE).as_deref(),
        Some(good.as_str())
    );

    // Leave the platform as the next test expects it: the good version, Ready.
    platform::set_service_version(&cluster, SERVICE, &good)
        .await
        .unwrap();
    traffic.abort();
}
