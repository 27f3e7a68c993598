//! Leader election between two real operator processes on the local control plane: exactly one
//! reconciles, and when it is killed (no graceful release) the other takes over within the
//! Lease's duration.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use serde_json::json;
use support::{OPERATOR_NAMESPACE, Operator, apply, cluster, get, namespace, wait_ready};

const LEASE_SECONDS: u64 = 6;

/// Reconciles this operator has run (`storefront_reconciles_total`, all results), from /metrics.
fn reconciles(operator: &Operator) -> f64 {
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", operator.metrics_port)) else {
        return 0.0;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n");
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    text.lines()
        .filter(|l| l.starts_with("storefront_reconciles_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn holder(c: &storefront_cluster::LocalCluster) -> String {
    get(c, OPERATOR_NAMESPACE, &["lease", "storefront-operator"])
        .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn platform(ns: &str) -> serde_json::Value {
    json!({
        "apiVersion": "storefront.dev/v1alpha1",
        "kind": "EcommercePlatform",
        "metadata": {"name": "shop", "namespace": ns},
        "spec": {"version": "0.1.0", "services": {"web": {"enabled": false}}},
    })
}

#[test]
fn exactly_one_of_two_operators_reconciles_and_the_other_takes_over_when_it_dies() {
    let Some(c) = cluster() else { return };
    let lease = format!("--lease-seconds={LEASE_SECONDS}");
    let mut a = Operator::start(c, "replica-a", &[&lease]);
    let mut b = Operator::start(c, "replica-b", &[&lease]);
    let ns = namespace(c, "leader");
    apply(c, &platform(&ns));
    wait_ready(c, &ns, "shop", "180s");

    let leader = holder(c);
    let (leader_op, standby) = match leader.as_str() {
        "replica-a" => (&mut a, &mut b),
        "replica-b" => (&mut b, &mut a),
        other => panic!("the Lease is held by {other:?}, not by one of the replicas"),
    };
    assert!(reconciles(leader_op) > 0.0, "the leader never reconciled");
    assert_eq!(
        reconciles(standby),
        0.0,
        "the standby reconciled while the other held the Lease:\n{}",
        standby.log_tail()
    );

    // Kill the leader the hard way: its Lease is not released and must expire.
    leader_op.kill();
    let killed = Instant::now();
    let new_holder = support::eventually(
        "the standby takes the Lease",
        Duration::from_secs(LEASE_SECONDS * 4),
        || {
            let h = holder(c);
            (h == standby.identity).then_some(h)
        },
        || format!("holder {:?}\n{}", holder(c), standby.log_tail()),
    );
    let took = killed.elapsed();
    eprintln!(
        "[figure] {new_holder} took over {:.1} s after the leader was killed (lease {LEASE_SECONDS} s)",
        took.as_secs_f64()
    );
    // Within the lease duration plus one retry period of the standby.
    assert!(
        took <= Duration::from_secs(LEASE_SECONDS * 2),
        "took {took:?} for a {LEASE_SECONDS} s lease"
    );
    // And the new leader reconciles: a change is applied.
    support::patch_spec(
        c,
        &ns,
        serde_json::json!({"services":{"web":{"enabled":true}}}),
    );
    support::eventually(
        "the new leader creates web",
        Duration::from_secs(60),
        || get(c, &ns, &["deployment", "shop-web"]),
        || standby.log_tail(),
    );
    assert!(reconciles(standby) > 0.0);
}
