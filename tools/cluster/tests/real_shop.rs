//! The whole shop on the local cluster's real node, without a mesh: the images built here
//! (`make images`) imported into containerd, the operator running beside the cluster,
//! `EcommercePlatform` applied as a user would, Ready by the pods' real readiness probes, a
//! purchase through the gateway Service, and the retained database volume still there after
//! the platform is deleted. Istio's checks stay in the kind suite (`e2e/`): Envoy cannot be
//! built here.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use storefront_cluster::LocalCluster;
use support::Operator;

const REGISTRY: &str = "ghcr.io/storefront-dev/storefront";
const POSTGRES_IMAGE: &str = "ghcr.io/storefront-dev/storefront/postgres:15-bookworm";
const REDIS_IMAGE: &str = "ghcr.io/storefront-dev/storefront/redis:7.0-bookworm";
const SERVICES: [&str; 8] = [
    "gateway",
    "users",
    "catalog",
    "cart",
    "inventory",
    "payments",
    "orders",
    "web",
];

fn version() -> String {
    let toml = std::fs::read_to_string(support::repo().join("Cargo.toml")).unwrap();
    toml.lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .unwrap()
        .to_owned()
}

/// The Docker engine's address (scripts/docker-engine.sh starts one when none runs), or `None`
/// with the reason when none can run here.
fn docker_host() -> Option<String> {
    let out = Command::new(support::repo().join("scripts/docker-engine.sh"))
        .arg("start")
        .output()
        .expect("run scripts/docker-engine.sh");
    if out.status.success() {
        return Some(String::from_utf8_lossy(&out.stdout).trim().to_owned());
    }
    let why = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !support::required(),
        "STOREFRONT_CLUSTER_TESTS=1 but no Docker engine for the images: {why}"
    );
    eprintln!("SKIPPED (no Docker engine to build the images): {why}");
    None
}

/// `make images`' images of the shop, built from this tree, saved into one archive for containerd.
fn image_archive(docker_host: &str, dir: &Path) -> std::path::PathBuf {
    let version = version();
    let mut refs: Vec<String> = SERVICES
        .iter()
        .map(|s| format!("{REGISTRY}/{s}:{version}"))
        .collect();
    refs.extend([POSTGRES_IMAGE.to_owned(), REDIS_IMAGE.to_owned()]);
    let docker = |args: &[&str]| {
        Command::new("docker")
            .env("DOCKER_HOST", docker_host)
            .args(args)
            .output()
            .expect("run docker")
    };
    // Always through the script, so the images hold this tree's binaries; it rebuilds only
    // what changed (cargo's cache, the unchanged bases).
    eprintln!("[real-shop] building the images (scripts/offline-images.sh)");
    let mut build = Command::new(support::repo().join("scripts/offline-images.sh"));
    for name in storefront_testkit::cargo_test_env() {
        build.env_remove(name);
    }
    let status = build
        .args(SERVICES)
        .args(["postgres", "redis"])
        .env("DOCKER_HOST", docker_host)
        .env("CARGO_TARGET_DIR", support::target_dir())
        .status()
        .expect("run scripts/offline-images.sh");
    assert!(status.success(), "scripts/offline-images.sh failed");
    let archive = dir.join("shop-images.tar");
    let mut args = vec!["save", "-o", archive.to_str().unwrap()];
    args.extend(refs.iter().map(String::as_str));
    let out = docker(&args);
    assert!(
        out.status.success(),
        "docker save: {}",
        String::from_utf8_lossy(&out.stderr)
    );
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

struct Shop {
    base: String,
    http: reqwest::Client,
}

impl Shop {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shop_runs_in_real_pods_and_sells_through_the_gateway_service() {
    let started = Instant::now();
    let Some(cluster) = support::real_node_cluster() else {
        return;
    };
    let cluster_up = started.elapsed();
    let Some(docker_host) = docker_host() else {
        return;
    };
    let archive = image_archive(&docker_host, cluster.dir());
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
    support::apply(&cluster, &platform(namespace, &version()));
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

    let shop = Shop {
        base: gateway_url(&cluster, namespace),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap(),
    };
    let email = "real@node.test";
    let (status, body) = shop
        .call(
            Method::POST,
            "/api/users/register",
            None,
            Some(json!({"email": email, "password": "a-good-password", "name": "Real"})),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, login) = shop
        .call(
            Method::POST,
            "/api/users/login",
            None,
            Some(json!({"email": email, "password": "a-good-password"})),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let token = login["token"].as_str().unwrap().to_owned();
    let (status, found) = shop
        .call(Method::GET, "/api/products?q=coffee", None, None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    let product = found["items"][0].clone();
    let (status, body) = shop
        .call(
            Method::POST,
            "/api/cart/items",
            Some(&token),
            Some(json!({"productId": product["id"], "quantity": 1})),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let card =
        json!({"cardNumber": "4242424242424242", "expMonth": 12, "expYear": 2040, "cvc": "123"});
    let (status, order) = shop
        .call(
            Method::POST,
            "/api/orders",
            Some(&token),
            Some(json!({"payment": card})),
            Some("real-node-1"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(order["status"], "paid");
    let (status, mine) = shop
        .call(Method::GET, "/api/orders", Some(&token), None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine["items"][0]["id"], order["id"], "{mine}");

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
