//! The live connections between the run's addresses, read from `conntrack -L` text, pure: each
//! entry's original direction (who opened it, to which address and port), counted per flow.
//! Invariant: only established TCP connections and UDP flows count; closing ones (TIME_WAIT and
//! the like), other protocols and addresses that are not IPv4 are left out.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// Connections from one address to another's port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Link {
    pub from: Ipv4Addr,
    pub to: Ipv4Addr,
    pub port: u16,
}

/// How many tracked connections each [`Link`] has.
pub type Counts = BTreeMap<Link, usize>;

/// Counts the entries of `conntrack -L` output (one per line, e.g. `tcp 6 431999 ESTABLISHED
/// src=10.213.1.11 dst=10.213.2.11 sport=40122 dport=8000 src=... [ASSURED] mark=0 use=1`).
pub fn count(text: &str) -> Counts {
    let mut counts = Counts::new();
    for line in text.lines() {
        if let Some(link) = parse(line) {
            *counts.entry(link).or_default() += 1;
        }
    }
    counts
}

fn parse(line: &str) -> Option<Link> {
    let mut words = line.split_whitespace();
    match words.next()? {
        "tcp" => {
            // protocol number, timeout, then the state.
            if words.clone().nth(2)? != "ESTABLISHED" {
                return None;
            }
        }
        "udp" => {}
        _ => return None,
    }
    // The first src/dst/dport are the original direction; the second set is the reply's.
    let field = |name: &str| {
        words
            .clone()
            .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_owned)
    };
    let from = field("src")?.parse().ok()?;
    let to = field("dst")?.parse().ok()?;
    let port = field("dport")?.parse().ok()?;
    Some(Link { from, to, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
tcp      6 431999 ESTABLISHED src=10.213.1.11 dst=10.213.2.11 sport=40122 dport=8000 src=10.213.2.11 dst=10.213.1.11 sport=8000 dport=40122 [ASSURED] mark=0 use=1
tcp      6 431998 ESTABLISHED src=10.213.1.11 dst=10.213.2.11 sport=40124 dport=8000 src=10.213.2.11 dst=10.213.1.11 sport=8000 dport=40124 [ASSURED] mark=0 use=1
tcp      6 117 TIME_WAIT src=10.213.2.14 dst=10.213.3.11 sport=51000 dport=6379 src=10.213.3.11 dst=10.213.2.14 sport=6379 dport=51000 [ASSURED] mark=0 use=1
icmp     1 29 src=10.213.1.11 dst=10.213.3.10 type=8 code=0 id=7 src=10.213.3.10 dst=10.213.1.11 type=0 code=0 id=7 mark=0 use=1
conntrack v1.4.7 (conntrack-tools): 4 flow entries have been shown.
";

    fn link(from: &str, to: &str, port: u16) -> Link {
        Link {
            from: from.parse().unwrap(),
            to: to.parse().unwrap(),
            port,
        }
    }

    #[test]
    fn entries_are_counted_by_who_opened_them_to_which_port() {
        let counts = count(SAMPLE);
        assert_eq!(counts[&link("10.213.1.11", "10.213.2.11", 8000)], 2);
        assert_eq!(counts.len(), 1, "{counts:?}");
    }

    #[test]
    fn closing_connections_are_not_live() {
        let time_wait = SAMPLE.lines().nth(2).unwrap();
        assert!(time_wait.contains("TIME_WAIT"));
        assert!(count(time_wait).is_empty());
        let udp = "udp 17 29 src=10.213.2.14 dst=10.213.3.11 sport=5353 dport=53 src=10.213.3.11 dst=10.213.2.14 sport=53 dport=5353 mark=0 use=1";
        assert_eq!(count(udp)[&link("10.213.2.14", "10.213.3.11", 53)], 1);
    }

    #[test]
    fn other_protocols_and_the_summary_line_are_left_out() {
        assert!(count("icmp 1 29 src=10.0.0.1 dst=10.0.0.2 type=8\nconntrack v1.4.7\n").is_empty());
        assert!(count("tcp 6 10 ESTABLISHED src=fd00::1 dst=fd00::2 dport=80\n").is_empty());
    }
}
