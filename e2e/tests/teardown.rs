//! Deleting the platform removes everything it created except the database volumes it was told
//! to retain. Destructive: it runs only with STOREFRONT_E2E_TEARDOWN=1 (e2e/run.sh runs it last).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::Duration;

use storefront_e2e::cluster_or_skip;
use storefront_e2e::platform::{self, wait_for};

#[tokio::test]
async fn deleting_the_platform_leaves_only_the_retained_volumes() {
    let Some(cluster) =
        cluster_or_skip("deleting_the_platform_leaves_only_the_retained_volumes").await
    else {
        return;
    };
    if std::env::var("STOREFRONT_E2E_TEARDOWN").as_deref() != Ok("1") {
        eprintln!(
            "SKIP deleting_the_platform_leaves_only_the_retained_volumes: destructive; set STOREFRONT_E2E_TEARDOWN=1 (e2e/run.sh does, after the other tests)"
        );
        return;
    }
    let claims_before = platform::claims(&cluster).await.unwrap();
    assert!(
        claims_before.iter().any(|c| c.contains("postgres")),
        "no PostgreSQL volume before deletion: {claims_before:?}"
    );

    platform::delete(&cluster).await.unwrap();
    wait_for(
        "the platform and its objects to be gone",
        Duration::from_secs(300),
        || async {
            let platform = platform::get(&cluster).await?;
            let left = platform::remaining_objects(&cluster).await?;
            Ok(if platform.is_none() && left.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "platform present: {}, left: {left:?}",
                    platform.is_some()
                ))
            })
        },
    )
    .await
    .unwrap();

    // retainOnDelete: PostgreSQL's claims stay; Redis's go with their StatefulSet.
    let claims = wait_for(
        "Redis's volume claims to be deleted",
        Duration::from_secs(120),
        || async {
            let claims = platform::claims(&cluster).await?;
            Ok(if claims.iter().any(|c| c.contains("redis")) {
                Err(format!("{claims:?}"))
            } else {
                Ok(claims)
            })
        },
    )
    .await
    .unwrap();
    let retained: Vec<_> = claims_before
        .iter()
        .filter(|c| c.contains("postgres"))
        .collect();
    for claim in retained {
        assert!(
            claims.contains(claim),
            "{claim} was deleted although the database has retainOnDelete"
        );
    }
}
