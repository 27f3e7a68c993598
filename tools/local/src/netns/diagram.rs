//! The running topology as an SVG picture, pure: the router namespace on top, one column per
//! tier (its bridge and subnet) holding each component's namespace and address, a line per live
//! connection between them with its count, and the policy's allowed flows underneath. The
//! caller supplies the plan, the flows and the counts, so the picture is tested as text.

use std::fmt::Write;
use std::net::Ipv4Addr;

use super::conntrack::Counts;
use super::plan::{Plan, Tier};
use super::ruleset::Flow;

const WIDTH: u32 = 1220;
const COLUMN: u32 = 320;
const GAP: u32 = 90;
const TOP: u32 = 120;
const NODE_H: u32 = 52;
const NODE_STEP: u32 = 66;
const HEADER: u32 = 56;

/// A box on the picture: where connections to and from its address end.
#[derive(Clone, Copy)]
struct Spot {
    column: Option<usize>,
    x: u32,
    y: u32,
    w: u32,
    h: u32,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn column_x(index: usize) -> u32 {
    40 + index as u32 * (COLUMN + GAP)
}

/// The SVG document.
pub fn render(plan: &Plan, flows: &[Flow], counts: &Counts) -> String {
    let mut spots: Vec<(Ipv4Addr, Spot)> = Vec::new();
    let mut body = String::new();
    let router = Spot {
        column: None,
        x: 40,
        y: 44,
        w: WIDTH - 80,
        h: 44,
    };
    let _ = writeln!(
        body,
        r##"<rect x="{}" y="{}" width="{}" height="{}" rx="8" fill="#eef2f7" stroke="#5b6b82"/>"##,
        router.x, router.y, router.w, router.h
    );
    let _ = writeln!(
        body,
        r#"<text x="{}" y="{}" class="title">router namespace {} · routes between the tiers · nftables table inet {} (default drop)</text>"#,
        router.x + 14,
        router.y + 27,
        escape(&plan.router),
        escape(&plan.table)
    );
    let mut tallest = 0;
    for (index, tier) in Tier::ALL.into_iter().enumerate() {
        let x = column_x(index);
        let nodes: Vec<_> = plan.nodes.iter().filter(|n| n.tier == tier).collect();
        let height = HEADER + nodes.len() as u32 * NODE_STEP + 10;
        tallest = tallest.max(height);
        if let Some(bridge) = plan.bridge(tier) {
            spots.push((bridge.router, router));
            let _ = writeln!(
                body,
                r##"<rect x="{x}" y="{TOP}" width="{COLUMN}" height="{height}" rx="10" fill="#fafbfc" stroke="#8a99ad" stroke-dasharray="6 3"/>"##
            );
            let _ = writeln!(
                body,
                r#"<text x="{}" y="{}" class="title">{} tier · bridge {}</text>"#,
                x + 14,
                TOP + 22,
                tier.name(),
                escape(&bridge.name)
            );
            let _ = writeln!(
                body,
                r#"<text x="{}" y="{}">{}/24 · router {}</text>"#,
                x + 14,
                TOP + 40,
                bridge.subnet,
                bridge.router
            );
        }
        for (row, node) in nodes.iter().enumerate() {
            let spot = Spot {
                column: Some(index),
                x: x + 16,
                y: TOP + HEADER + row as u32 * NODE_STEP,
                w: COLUMN - 32,
                h: NODE_H,
            };
            spots.push((node.address, spot));
            let _ = writeln!(
                body,
                r##"<rect x="{}" y="{}" width="{}" height="{}" rx="6" fill="#ffffff" stroke="#3d4b5f"/>"##,
                spot.x, spot.y, spot.w, spot.h
            );
            let _ = writeln!(
                body,
                r#"<text x="{}" y="{}" class="title">{}</text>"#,
                spot.x + 10,
                spot.y + 20,
                escape(&node.label())
            );
            let _ = writeln!(
                body,
                r#"<text x="{}" y="{}">{} · netns {} · {}</text>"#,
                spot.x + 10,
                spot.y + 39,
                node.address,
                escape(&node.netns),
                escape(&node.peer)
            );
        }
    }
    let find = |address: Ipv4Addr| spots.iter().find(|(a, _)| *a == address).map(|(_, s)| *s);
    let drawn: Vec<_> = counts
        .iter()
        .filter(|(link, _)| find(link.from).is_some() && find(link.to).is_some())
        .collect();
    // Lines meeting at one box would stack their labels there: each label goes near whichever
    // end has fewer lines.
    let lines_at = |address: Ipv4Addr| {
        drawn
            .iter()
            .filter(|(l, _)| l.from == address || l.to == address)
            .count()
    };
    let mut shown = 0;
    for &(link, &count) in &drawn {
        let (Some(from), Some(to)) = (find(link.from), find(link.to)) else {
            continue;
        };
        shown += count;
        let (x1, y1, x2, y2) = ends(from, to);
        let width = 1 + count.min(8) / 2;
        let path = if from.column.is_some() && from.column == to.column {
            // Within one column: bow out to the right so the line does not cross the boxes.
            let bow = x1.max(x2) + 40;
            format!("M{x1},{y1} C{bow},{y1} {bow},{y2} {x2},{y2}")
        } else {
            format!("M{x1},{y1} L{x2},{y2}")
        };
        let _ = writeln!(
            body,
            r##"<path d="{path}" fill="none" stroke="#d9534f" stroke-width="{width}" marker-end="url(#arrow)" opacity="0.8"/>"##
        );
        let near_source = lines_at(link.from) <= lines_at(link.to);
        let (lx, ly) = if near_source {
            ((3 * x1 + x2) / 4, (3 * y1 + y2) / 4)
        } else {
            ((x1 + 3 * x2) / 4, (y1 + 3 * y2) / 4)
        };
        let _ = writeln!(
            body,
            r#"<text x="{}" y="{}" class="count">{count} × tcp/{}</text>"#,
            lx + 4,
            ly.saturating_sub(4),
            link.port
        );
    }
    let mut y = TOP + tallest + 34;
    let _ = writeln!(
        body,
        r#"<text x="40" y="{y}" class="title">allowed by the policy (everything else between tiers is dropped)</text>"#
    );
    y += 22;
    let _ = writeln!(
        body,
        r#"<text x="56" y="{y}">anything within one tier</text>"#
    );
    for flow in flows {
        y += 20;
        let _ = writeln!(
            body,
            r#"<text x="56" y="{y}">{} → {} tcp {} · {}</text>"#,
            flow.from,
            flow.to,
            flow.ports_joined(","),
            escape(flow.why)
        );
    }
    let height = y + 30;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#d9534f"/></marker><style>.title {{ font-weight: bold; }} .count {{ fill: #b52b27; font-weight: bold; paint-order: stroke; stroke: #ffffff; stroke-width: 3px; }}</style></defs>"##
    );
    let _ = writeln!(
        svg,
        r#"<text x="40" y="28" class="title">Storefront netns topology · prefix {} · {shown} live connections (conntrack in {})</text>"#,
        escape(&plan.prefix),
        escape(&plan.router)
    );
    svg.push_str(&body);
    svg.push_str("</svg>\n");
    svg
}

/// Where a connection line leaves `from` and reaches `to`: facing sides across columns, the
/// right sides within one, the router's bottom edge for the router.
fn ends(from: Spot, to: Spot) -> (u32, u32, u32, u32) {
    let side = |s: Spot, toward: Spot| match (s.column, toward.column) {
        (None, Some(_)) => (toward.x + toward.w / 2, s.y + s.h),
        (Some(a), Some(b)) if a > b => (s.x, s.y + s.h / 2),
        (Some(a), Some(b)) if a == b => (s.x + s.w, s.y + s.h / 2),
        _ => (s.x + s.w, s.y + s.h / 2),
    };
    let (x1, y1) = side(from, to);
    let (x2, y2) = match (to.column, from.column) {
        (None, _) => (from.x + from.w / 2, to.y + to.h),
        (Some(a), Some(b)) if a < b => (to.x + to.w, to.y + to.h / 2),
        (Some(a), Some(b)) if a == b => (to.x + to.w, to.y + to.h / 2),
        _ => (to.x, to.y + to.h / 2),
    };
    (x1, y1, x2, y2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netns::conntrack::{Link, count};
    use crate::netns::plan::{DEFAULT_PREFIX, DEFAULT_SUBNET};
    use crate::netns::ruleset::flows;

    fn plan() -> Plan {
        Plan::new(DEFAULT_PREFIX, DEFAULT_SUBNET)
            .unwrap()
            .with_instances("catalog", 2)
            .unwrap()
    }

    #[test]
    fn every_namespace_bridge_and_allowed_flow_is_drawn() {
        let plan = plan();
        let svg = render(&plan, &flows(&plan), &Counts::new());
        assert!(
            svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            "{svg}"
        );
        assert!(svg.trim_end().ends_with("</svg>"));
        for node in &plan.nodes {
            assert!(
                svg.contains(&format!(">{}</text>", node.label())),
                "{}",
                node.label()
            );
            assert!(svg.contains(&format!("{} · netns {}", node.address, node.netns)));
        }
        assert!(svg.contains("catalog-2"));
        for bridge in &plan.bridges {
            assert!(svg.contains(&bridge.name), "{}", bridge.name);
        }
        assert!(
            svg.contains("10.213.1.0/24 → 10.213.2.0/24 tcp 8000"),
            "{svg}"
        );
        assert!(svg.contains("10.213.2.0/24 → 10.213.3.0/24 tcp 5432,6379"));
        assert!(svg.contains("0 live connections"));
    }

    #[test]
    fn live_connections_between_known_addresses_are_drawn_with_their_count() {
        let plan = plan();
        let gateway = plan.node("gateway").unwrap().address;
        let catalog_2 = plan.instance("catalog", 2).unwrap().address;
        let text = format!(
            "tcp 6 431999 ESTABLISHED src={gateway} dst={catalog_2} sport=1 dport=8000 src={catalog_2} dst={gateway} sport=8000 dport=1\n\
             tcp 6 431999 ESTABLISHED src={gateway} dst={catalog_2} sport=2 dport=8000 src={catalog_2} dst={gateway} sport=8000 dport=2\n\
             tcp 6 431999 ESTABLISHED src=192.0.2.1 dst={catalog_2} sport=3 dport=8000 src={catalog_2} dst=192.0.2.1 sport=8000 dport=3\n"
        );
        let counts = count(&text);
        assert_eq!(
            counts[&Link {
                from: gateway,
                to: catalog_2,
                port: 8000
            }],
            2
        );
        let svg = render(&plan, &flows(&plan), &counts);
        assert!(svg.contains(">2 × tcp/8000</text>"), "{svg}");
        // The address outside the run is not drawn, nor counted.
        assert_eq!(svg.matches("× tcp/").count(), 1, "{svg}");
        assert!(svg.contains("2 live connections"));
    }

    #[test]
    fn text_from_the_plan_is_escaped() {
        let mut plan = plan();
        plan.router = "a<b&c".into();
        let svg = render(&plan, &[], &Counts::new());
        assert!(svg.contains("a&lt;b&amp;c"));
        assert!(!svg.contains("a<b"));
    }
}
