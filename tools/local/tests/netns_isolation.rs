//! `--isolation netns` for real: the topology comes up (cleaning a leftover of the prefix
//! first), a customer buys through the host's forwarded port, the policy refuses the gateway's
//! namespace a connection to PostgreSQL while the app tier gets one, and after the stop no
//! namespace, link or nftables table with the prefix is left.
//!
//! Needs Linux, root, `ip` and `nft`. Not root but with password-less sudo (a GitHub runner),
//! it runs itself again under `sudo -n`. Otherwise, without them, it says why and passes, unless
//! CI=true or STOREFRONT_NETNS_TESTS=1, where that is a failure. It uses its own prefix and
//! subnet (`sft-`, 10.214/16) so it never touches a `storefront-local up` running beside it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

mod support;

use storefront_common::events::EventBus;
use storefront_local::netns::{Plan, TopologyError, topology};
use storefront_local::platform::{self, Scope, StartOptions};
use storefront_testkit::in_netns;
use storefront_testkit::shop::Shop;

const PREFIX: &str = "sft-";

/// Whether a TCP connection from inside `netns` to `addr` is established.
fn connects(netns: &str, addr: SocketAddr) -> bool {
    in_netns(netns, || {
        TcpStream::connect_timeout(&addr, Duration::from_secs(3)).is_ok()
    })
    .unwrap()
}

fn text_of(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shop_runs_on_tiered_namespaces_and_leaves_nothing_behind() {
    if let Err(why) = topology::preflight() {
        if matches!(why, TopologyError::NotRoot)
            && let Some(passed) =
                support::under_sudo("the_shop_runs_on_tiered_namespaces_and_leaves_nothing_behind")
        {
            assert!(
                passed,
                "the netns test failed under sudo (its output is above)"
            );
            return;
        }
        assert!(
            !support::netns_must_run(),
            "CI=true (or STOREFRONT_NETNS_TESTS=1) but netns mode cannot run here: {why}"
        );
        eprintln!("skipping the netns test: {why}. Set CI=true to make this a failure.");
        return;
    }
    let plan = Plan::new(PREFIX, [10, 214]).unwrap();
    // A crashed run's namespace, which the start must remove by its name.
    assert!(
        Command::new("ip")
            .args(["netns", "add", "sft-leftover"])
            .status()
            .unwrap()
            .success()
    );

    let port = storefront_testkit::free_port();
    let mut platform = platform::start_isolated(
        StartOptions {
            bins: support::bin_dir(),
            scope: Scope::Full { gateway_port: port },
            admin_email: "admin@netns.test".into(),
            admin_password: "admin-password".into(),
            log_dir: None,
            rust_log: "info".into(),
            extra_env: vec![],
            bus: EventBus::Redis,
            replicas: Default::default(),
        },
        plan.clone(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n(build the binaries first: cargo build --workspace --bins)"));
    let running = topology::namespaces_with(PREFIX);
    assert!(
        !running.contains(&"sft-leftover".to_string()),
        "{running:?}"
    );
    assert_eq!(running.len(), plan.namespaces().len(), "{running:?}");

    // The purchase journey, through the host's port.
    let front = platform.url("gateway").unwrap().to_string();
    assert_eq!(front, format!("http://127.0.0.1:{port}"));
    let shop = Shop::new(front);
    let token = shop.customer("alice@netns.test").await;
    let bought = shop.purchase(&token, 2, "netns-1").await;
    let id = bought.order["id"].as_str().unwrap().to_owned();
    assert_eq!(shop.order_ids(&token).await, vec![id]);

    // The policy, tried from the components' own namespaces.
    let at = |component: &str, port: u16| {
        SocketAddr::from((plan.node(component).unwrap().address, port))
    };
    let netns = |component: &str| plan.node(component).unwrap().netns.clone();
    assert!(
        !connects(&netns("gateway"), at("postgres", 5432)),
        "the gateway's namespace reached PostgreSQL"
    );
    assert!(
        !connects(&netns("web"), at("postgres", 5432)),
        "web's namespace reached PostgreSQL"
    );
    assert!(
        !connects(&netns("web"), at("redis", 6379)),
        "web's namespace reached Redis"
    );
    assert!(
        !connects(&netns("postgres"), at("users", 8000)),
        "the data tier reached the app tier"
    );
    assert!(
        connects(&netns("orders"), at("postgres", 5432)),
        "app -> data"
    );
    assert!(
        connects(&netns("gateway"), at("catalog", 8000)),
        "edge -> app"
    );
    assert!(
        connects(&netns("gateway"), at("redis", 6379)),
        "the gateway's own Redis"
    );
    let loaded = platform
        .topology
        .as_ref()
        .unwrap()
        .loaded_ruleset()
        .unwrap();
    assert!(loaded.contains("policy drop"), "{loaded}");

    platform.stop().await;
    assert_eq!(topology::namespaces_with(PREFIX), Vec::<String>::new());
    let links = text_of(&["ip", "-o", "link"]);
    assert!(!links.contains(PREFIX), "{links}");
    let tables = text_of(&["nft", "list", "tables"]);
    assert!(!tables.contains("sft_policy"), "{tables}");
}
