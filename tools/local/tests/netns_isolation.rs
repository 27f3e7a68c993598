//! `--isolation netns` for real: the topology comes up (cleaning a leftover of the prefix
//! first), a customer buys through the host's forwarded port while `net capture` records the
//! data tier's bridge, the policy refuses the gateway's namespace a connection to PostgreSQL
//! while the app tier gets one, and after the stop no namespace, link or nftables table with the
//! prefix is left.
//!
//! Needs Linux, root, `ip`, `nft` and `tcpdump`. Not root but with password-less sudo (a GitHub runner),
//! it runs itself again under `sudo -n`. Otherwise, without them, it says why and passes, unless
//! CI=true or STOREFRONT_NETNS_TESTS=1, where that is a failure. It uses its own prefix and
//! subnet (`sft-`, 10.214/16) so it never touches a `storefront-local up` running beside it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

mod support;

use storefront_common::events::EventBus;
use storefront_local::netns::capture::{Capture, CaptureError, CaptureRequest};
use storefront_local::netns::{Plan, Tier, TopologyError, topology};
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

    // The purchase journey, through the host's port, with the data tier's bridge recorded.
    let pcap_path = std::env::temp_dir().join(format!("sft-data-{}.pcap", std::process::id()));
    let request =
        CaptureRequest::new(Tier::Data, Some(Duration::from_secs(120)), None, None).unwrap();
    let capture = Capture::start(PREFIX, &request, &pcap_path).unwrap();
    let front = platform.url("gateway").unwrap().to_string();
    assert_eq!(front, format!("http://127.0.0.1:{port}"));
    let shop = Shop::new(front);
    let token = shop.customer("alice@netns.test").await;
    let bought = shop.purchase(&token, 2, "netns-1").await;
    let id = bought.order["id"].as_str().unwrap().to_owned();
    assert_eq!(shop.order_ids(&token).await, vec![id]);
    let summary = capture.stop().unwrap();
    check_capture(&summary, &pcap_path, &plan);
    let _ = std::fs::remove_file(&pcap_path);

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
    match Capture::start(PREFIX, &request, &pcap_path) {
        Err(CaptureError::NotRunning(prefix)) => assert_eq!(prefix, PREFIX),
        other => panic!("a capture without a run: {:?}", other.err()),
    }
    let _ = std::fs::remove_file(&pcap_path);
}

/// The pcap is whole, Ethernet, holds what tcpdump counted, and the purchase's queries to
/// PostgreSQL from the app tier are in it.
fn check_capture(
    summary: &storefront_local::netns::capture::Summary,
    path: &std::path::Path,
    plan: &Plan,
) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(summary.bytes, bytes.len() as u64, "{summary}");
    let pcap = support::pcap::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(pcap.link_type, support::pcap::LINKTYPE_ETHERNET);
    assert!(pcap.snap_len > 0);
    assert_eq!(Some(pcap.frames.len() as u64), summary.packets, "{summary}");
    let postgres = plan.node("postgres").unwrap().address;
    let to_postgres = pcap
        .frames
        .iter()
        .filter(|f| support::pcap::tcp_destination(f) == Some((postgres, 5432)))
        .count();
    assert!(
        to_postgres > 0,
        "no packet to {postgres}:5432 among the {} recorded on the data bridge",
        pcap.frames.len()
    );
}
