//! The local cluster with one real node: containerd runs the pods' containers, the kubelet
//! reports them, kube-proxy routes Services, and CoreDNS answers for them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

mod support;

use std::net::UdpSocket;
use std::time::Duration;

use storefront_cluster::real_node::{self, NODE_NAME, PAUSE_IMAGE};

/// An A query for `name`, as bytes on the wire.
fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// The first IPv4 address in a DNS answer (the answer section follows the echoed question).
fn first_a_record(answer: &[u8], question_len: usize) -> Option<[u8; 4]> {
    let count = u16::from_be_bytes([*answer.get(6)?, *answer.get(7)?]);
    if count == 0 {
        return None;
    }
    // The record's name: a 2-byte pointer, or labels ending in a zero byte.
    let mut at = question_len;
    if answer.get(at)? & 0xc0 == 0xc0 {
        at += 2;
    } else {
        while *answer.get(at)? != 0 {
            at += 1 + usize::from(*answer.get(at)?);
        }
        at += 1;
    }
    // type, class, ttl, rdlength, then the address
    let rdata = answer.get(at + 10..at + 14)?;
    Some([rdata[0], rdata[1], rdata[2], rdata[3]])
}

#[test]
fn a_pod_runs_in_a_real_container_and_services_resolve_through_cluster_dns() {
    let Some(cluster) = support::real_node_cluster() else {
        return;
    };
    let kubectl = cluster.kubectl();
    let node = kubectl
        .clone()
        .args([
            "get",
            "node",
            NODE_NAME,
            "-o",
            "jsonpath={.status.nodeInfo.containerRuntimeVersion}",
        ])
        .run()
        .unwrap();
    assert!(node.starts_with("containerd://"), "{node}");

    kubectl
        .clone()
        .args(["apply", "-f", "-"])
        .stdin(&format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: sleeper, namespace: default}}\n\
             spec:\n  selector: {{matchLabels: {{app: sleeper}}}}\n  template:\n    metadata: \
             {{labels: {{app: sleeper}}}}\n    spec:\n      containers:\n      - name: sleeper\n        \
             image: {PAUSE_IMAGE}\n        imagePullPolicy: Never\n        securityContext: \
             {{runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, \
             capabilities: {{drop: [ALL]}}}}\n"
        ))
        .run()
        .unwrap();
    kubectl
        .clone()
        .args([
            "wait",
            "--for=condition=Available",
            "deployment/sleeper",
            "--timeout=90s",
        ])
        .run()
        .expect("the pause container runs on the real node");
    let ip = kubectl
        .clone()
        .args([
            "get",
            "pods",
            "-l",
            "app=sleeper",
            "-o",
            "jsonpath={.items[0].status.podIP}",
        ])
        .run()
        .unwrap();
    assert!(
        ip.starts_with("10.244.0."),
        "pod IP {ip} is on the node's bridge"
    );

    // CoreDNS, reached through kube-proxy's rules for the DNS Service's address, knows the
    // Services the API server holds.
    let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let name = "kube-dns.kube-system.svc.cluster.local";
    let query = dns_query(0x5f01, name);
    let mut answer = None;
    for _ in 0..30 {
        socket
            .send_to(&query, (real_node::DNS_SERVICE_IP, 53))
            .unwrap();
        let mut buf = [0u8; 512];
        if let Ok((n, _)) = socket.recv_from(&mut buf) {
            answer = first_a_record(&buf[..n], query.len());
            if answer.is_some() {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let answer = answer.expect("cluster DNS answers for the kube-dns Service");
    assert_eq!(
        answer.map(|b| b.to_string()).join("."),
        real_node::DNS_SERVICE_IP
    );

    // Stopping leaves the host as it was: no container process, mount, bridge or NAT rule.
    let dir = cluster.dir().display().to_string();
    drop(cluster);
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(!mounts.contains(&dir), "mounts left under {dir}");
    let shims = std::process::Command::new("pgrep")
        .args(["-f", &format!("{dir}/node/containerd.sock")])
        .output()
        .unwrap();
    assert!(
        shims.stdout.is_empty(),
        "containerd shims left: {:?}",
        shims.stdout
    );
    let bridge = std::process::Command::new("ip")
        .args(["link", "show", real_node::BRIDGE])
        .output()
        .unwrap();
    assert!(!bridge.status.success(), "the pod bridge is left");
    let nat = std::process::Command::new("iptables")
        .args(["-t", "nat", "-S", "POSTROUTING"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&nat.stdout).contains("name: \"storefront\""),
        "the pod network's NAT rules are left"
    );
}
