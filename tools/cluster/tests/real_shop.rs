//! The whole shop on the local cluster's real node, without a mesh: the images built here
//! (`make images`) imported into containerd, the operator running beside the cluster,
//! `EcommercePlatform` applied as a user would, Ready by the pods' real readiness probes, a
//! purchase through the gateway Service, and the retained database volume still there after
//! the platform is deleted. Istio's checks stay in the kind suite (`e2e/`): Envoy cannot be
//! built here.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use storefront_cluster::LocalCluster;
use storefront_compose::engine::{Engine, EngineError};
use storefront_testkit::shop::Shop;
use support::Operator;

const REGISTRY: &str = "ghcr.io/storefront-dev/storefront";
const VERSION: &str = env!("CARGO_PKG_VERSION");
const POSTGRES_IMAGE: &str = "ghcr.io/storefront-dev/storefront/postgres:15-bookworm";
const REDIS_IMAGE: &str = "ghcr.io/storefront-dev/storefront/redis:7.0-bookworm";
const SERVICES: [&str; 9] = [
    "gateway",
    "users",
    "catalog",
    "cart",
    "inventory",
    "payments",
    "orders",
    "notifications",
    "web",
];

/// The Docker engine that builds the images (one of ours is started when none runs), or `None`
/// with the reason when none can run here and the cluster tests are not required.
async fn engine() -> Option<Engine> {
    match Engine::start(&support::repo()).await {
        Ok(engine) => Some(engine),
        Err(EngineError::Unavailable(why)) if !support::required() => {
            eprintln!("SKIPPED (no Docker engine to build the images): {why}");
            None
        }
        Err(e) => panic!("STOREFRONT_CLUSTER_TESTS=1 but no Docker engine for the images: {e}"),
    }
}

/// The shop's images, built from this tree's debug binaries (`make test` has built them) by
/// `scripts/offline-images.sh`, saved into one archive for containerd.
async fn image_archive(engine: &Engine, dir: &Path) -> PathBuf {
    eprintln!("[real-shop] building the images (scripts/offline-images.sh)");
    let target = support::target_dir().display().to_string();
    let mut names: Vec<&str> = SERVICES.to_vec();
    names.extend(["postgres", "redis"]);
    engine
        .script(
            "scripts/offline-images.sh",
            &names,
            &[
                ("CARGO_TARGET_DIR", &target),
                ("PROFILE", "debug"),
                ("SKIP_CARGO", "1"),
            ],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let archive = dir.join("shop-images.tar");
    let mut refs: Vec<String> = SERVICES
        .iter()
        .map(|s| format!("{REGISTRY}/{s}:{VERSION}"))
        .collect();
    refs.extend([POSTGRES_IMAGE.to_owned(), REDIS_IMAGE.to_owned()]);
    let mut args = vec!["save", "-o", archive.to_str().unwrap()];
    args.extend(refs.iter().map(String::as_str));
    engine
        .docker_out(&args)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    archive
}

fn platform(namespace: &str, version: &str) -> Value {
    json!({
        "apiVersion": "storefront.dev/v1alpha1",
        "kind": "EcommercePlatform",
        "metadata": {"name": "shop", "namespace": namespace},
        "spec": {
            "version": version,
            "registry": REGISTRY,
            "imagePullPolicy": "Never",
            "database": {"mode": "Managed", "image": POSTGRES_IMAGE, "retainOnDelete": true},
            "cache": {"mode": "Managed", "image": REDIS_IMAGE},
        }
    })
}

/// The gateway Service's `http://<cluster IP>:<port>`: kube-proxy's rules route it from this
/// host as from any pod.
fn gateway_url(cluster: &LocalCluster, namespace: &str) -> String {
    let out = cluster
        .kubectl()
        .args([
            "get",
            "service",
            "shop-gateway",
            "-n",
            namespace,
            "-o",
            "jsonpath={.spec.clusterIP}:{.spec.ports[0].port}",
        ])
        .run()
        .unwrap();
    format!("http://{}", out.trim())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shop_runs_in_real_pods_and_sells_through_the_gateway_service() {
    let Some(engine) = engine().await else {
        return;
    };
    let started = Instant::now();
    let Some(cluster) = support::real_node_cluster() else {
        return;
    };
    let cluster_up = started.elapsed();
    let archive = image_archive(&engine, cluster.dir()).await;
    cluster.import_image(&archive).expect("the images import");
    let _ = std::fs::remove_file(&archive);

    // The chart's own operator Deployment is scaled to zero: pods cannot reach the API server on
    // the loopback address, so the operator runs beside the cluster as the chart's
    // ServiceAccount.
    support::install_chart_with(&cluster, &["--wait=false"]);
    cluster
        .kubectl()
        .args([
            "scale",
            "deployment",
            "--all",
            "--replicas=0",
            "-n",
            support::OPERATOR_NAMESPACE,
        ])
        .run()
        .unwrap();
    let mut operator = Operator::start(&cluster, "real-node", &[]);
    let namespace = "shop-real";
    cluster
        .kubectl()
        .args(["create", "namespace", namespace])
        .run()
        .unwrap();
    let applied = Instant::now();
    support::apply(&cluster, &platform(namespace, VERSION));
    let ready =
        std::panic::catch_unwind(|| support::wait_ready(&cluster, namespace, "shop", "600s"));
    if ready.is_err() {
        let pods = cluster
            .kubectl()
            .args(["get", "pods", "-n", namespace, "-o", "wide"])
            .run()
            .unwrap_or_default();
        panic!(
            "not Ready; pods:\n{pods}\noperator:\n{}",
            operator.log_tail()
        );
    }
    eprintln!(
        "[real-shop] cluster up in {:.1} s; kubectl apply to Ready in {:.1} s",
        cluster_up.as_secs_f64(),
        applied.elapsed().as_secs_f64()
    );

    let url = gateway_url(&cluster, namespace);
    let shop = Shop::new(url.clone());
    let settled = Instant::now();
    settle(&shop, &url).await;
    eprintln!(
        "[real-shop] a probe checkout went through {:.1} s after Ready",
        settled.elapsed().as_secs_f64()
    );
    let token = shop.customer("real@node.test").await;
    let bought = shop.purchase(&token, 1, "real-node-1").await;
    assert_eq!(
        shop.order_ids(&token).await,
        vec![bought.order["id"].as_str().unwrap().to_owned()]
    );
    // The order event reached the notifications pod over the Redis stream.
    let list = shop
        .wait_for_notifications(&token, Duration::from_secs(60), |items| !items.is_empty())
        .await;
    assert_eq!(list["items"][0]["kind"], "order.paid", "{list}");
    assert_eq!(list["items"][0]["orderId"], bought.order["id"], "{list}");

    // Deleting the platform keeps the retained database volume.
    cluster
        .kubectl()
        .args([
            "delete",
            "ecp",
            "shop",
            "-n",
            namespace,
            "--wait=true",
            "--timeout=120s",
        ])
        .run()
        .unwrap();
    let claims = cluster
        .kubectl()
        .args(["get", "pvc", "-n", namespace, "-o", "name"])
        .run()
        .unwrap();
    assert!(
        claims.lines().any(|c| c.contains("postgres")),
        "the retained PostgreSQL claim is still there: {claims:?}"
    );
    operator.terminate();
}

/// Waits until a probe customer's checkout goes through every Service it needs. The pods are
/// Ready (their probes pass) a little before the node routes every Service address to them, and
/// until then the gateway and orders answer 503 "unreachable, try again"; this retries those
/// answers (and, before them, connections to the gateway's Service address that get no answer
/// at all) for at most 3 minutes, with a fresh idempotency key each time, and fails on anything
/// else.
async fn settle(shop: &Shop, url: &str) {
    use reqwest::{Method, StatusCode};
    let deadline = Instant::now() + Duration::from_secs(180);
    // Until kube-proxy routes the gateway's own Service address, a connection to it fails
    // outright (no HTTP answer at all): wait for any answer first.
    let client = reqwest::Client::new();
    loop {
        let answer = client
            .get(format!("{url}/readyz"))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        match answer {
            Ok(_) => break,
            Err(error) => assert!(
                Instant::now() < deadline,
                "the gateway Service {url} gives no answer after 3 minutes: {error}"
            ),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let mut attempt = 0;
    let retry = |what: &str, status: StatusCode, body: &Value| {
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {body}");
        assert!(
            Instant::now() < deadline,
            "{what} still unavailable after 3 minutes: {body}"
        );
    };
    let password = "probe-password-1";
    loop {
        let (status, body) = shop
            .call(
                Method::POST,
                "/api/users/register",
                None,
                Some(json!({"email": "probe@node.test", "password": password, "name": "Probe"})),
                None,
            )
            .await;
        if status == StatusCode::CREATED || status == StatusCode::CONFLICT {
            break;
        }
        retry("register", status, &body);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let (status, login) = shop
        .call(
            Method::POST,
            "/api/users/login",
            None,
            Some(json!({"email": "probe@node.test", "password": password})),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let token = login["token"].as_str().unwrap().to_owned();
    loop {
        attempt += 1;
        let (status, found) = shop
            .call(Method::GET, "/api/products?q=coffee", None, None, None)
            .await;
        if status != StatusCode::OK {
            retry("search", status, &found);
            tokio::time::sleep(Duration::from_secs(2)).await;
            continue;
        }
        let item = json!({"productId": found["items"][0]["id"], "quantity": 1});
        let (status, body) = shop
            .call(
                Method::POST,
                "/api/cart/items",
                Some(&token),
                Some(item.clone()),
                None,
            )
            .await;
        if status != StatusCode::OK {
            retry(&format!("cart {item}"), status, &body);
            tokio::time::sleep(Duration::from_secs(2)).await;
            continue;
        }
        let (status, order) = shop
            .call(
                Method::POST,
                "/api/orders",
                Some(&token),
                Some(json!({"payment": storefront_testkit::shop::card(storefront_testkit::shop::GOOD_CARD)})),
                Some(&format!("settle-{attempt}")),
            )
            .await;
        if status == StatusCode::CREATED {
            return;
        }
        retry("checkout", status, &order);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
