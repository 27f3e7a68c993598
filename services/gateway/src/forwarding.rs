//! Which headers cross the gateway. Towards the backend: end-to-end headers only, the caller's
//! identity (`x-user-id`, `x-user-role`) set by the gateway alone, `x-forwarded-for`/`-proto`
//! from what the gateway itself saw, extended only when the peer is a trusted proxy
//! ([`TrustedProxies`]).
//! Back to the client: the backend's headers minus hop-by-hop ones.

use std::net::SocketAddr;

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::trusted_proxies::{FORWARDED_FOR, TrustedProxies};

pub const USER_ID: &str = "x-user-id";
pub const USER_ROLE: &str = "x-user-role";
const FORWARDED_PROTO: &str = "x-forwarded-proto";

/// Headers meaningful for one connection only (RFC 9110 §7.6.1), never forwarded.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Set by the gateway or by the HTTP client itself; a client's copy must not get through.
const REPLACED: [&str; 10] = [
    "host",
    "content-length",
    USER_ID,
    USER_ROLE,
    FORWARDED_FOR,
    FORWARDED_PROTO,
    "x-forwarded-host",
    "forwarded",
    // The shared client sets these from the gateway's own span and request id.
    "traceparent",
    "tracestate",
];

/// The caller as the gateway established it from a valid token.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user_id: String,
    pub role: &'static str,
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// The headers the backend receives.
pub fn towards_backend(
    incoming: &HeaderMap,
    peer: SocketAddr,
    proxies: &TrustedProxies,
    identity: Option<&Identity>,
) -> HeaderMap {
    let mut headers = incoming.clone();
    strip_hop_by_hop(&mut headers);
    // The shared client sends the current request id (the one the stack accepted or made).
    headers.remove(storefront_common::http::REQUEST_ID);
    let forwarded_for = proxies.forwarded_for(peer.ip(), incoming);
    let trusted = proxies.trusts(peer.ip());
    let proto = incoming
        .get(FORWARDED_PROTO)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    for name in REPLACED {
        headers.remove(name);
    }
    let proto = proto
        .filter(|p| trusted && (p == "http" || p == "https"))
        .unwrap_or_else(|| "http".to_string());
    insert(&mut headers, FORWARDED_FOR, &forwarded_for);
    insert(&mut headers, FORWARDED_PROTO, &proto);
    if let Some(identity) = identity {
        insert(&mut headers, USER_ID, &identity.user_id);
        insert(&mut headers, USER_ROLE, identity.role);
    }
    headers
}

/// The headers the client receives from the backend's answer.
pub fn towards_client(from_backend: &HeaderMap) -> HeaderMap {
    let mut headers = from_backend.clone();
    strip_hop_by_hop(&mut headers);
    // Recomputed for the buffered body, and the stack echoes the request id itself.
    headers.remove(header::CONTENT_LENGTH);
    headers.remove(storefront_common::http::REQUEST_ID);
    headers
}

fn insert(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (k, v) in pairs {
            headers.append(*k, HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    const PEER: &str = "10.0.0.7:5555";

    #[test]
    fn client_identity_headers_are_replaced_by_the_gateways() {
        let incoming = map(&[(USER_ID, "forged"), (USER_ROLE, "admin")]);
        let anonymous = towards_backend(
            &incoming,
            PEER.parse().unwrap(),
            &TrustedProxies::none(),
            None,
        );
        assert!(anonymous.get(USER_ID).is_none());
        assert!(anonymous.get(USER_ROLE).is_none());
        let identity = Identity {
            user_id: "u1".into(),
            role: "customer",
        };
        let known = towards_backend(
            &incoming,
            PEER.parse().unwrap(),
            &TrustedProxies::none(),
            Some(&identity),
        );
        assert_eq!(known.get_all(USER_ID).iter().count(), 1);
        assert_eq!(known[USER_ID], "u1");
        assert_eq!(known[USER_ROLE], "customer");
    }

    #[test]
    fn hop_by_hop_and_connection_listed_headers_are_dropped() {
        let incoming = map(&[
            ("connection", "keep-alive, x-secret"),
            ("x-secret", "1"),
            ("te", "trailers"),
            ("authorization", "Bearer t"),
            ("accept", "application/json"),
        ]);
        let out = towards_backend(
            &incoming,
            PEER.parse().unwrap(),
            &TrustedProxies::none(),
            None,
        );
        assert!(out.get("connection").is_none());
        assert!(out.get("x-secret").is_none());
        assert!(out.get("te").is_none());
        assert_eq!(out["authorization"], "Bearer t");
        assert_eq!(out["accept"], "application/json");
    }

    #[test]
    fn forwarded_headers_are_extended_only_behind_a_trusted_proxy() {
        let incoming = map(&[
            ("x-forwarded-for", "1.2.3.4, 5.6.7.8"),
            ("x-forwarded-proto", "https"),
        ]);
        let peer: SocketAddr = PEER.parse().unwrap();
        let untrusted = towards_backend(&incoming, peer, &TrustedProxies::none(), None);
        assert_eq!(untrusted[FORWARDED_FOR], "10.0.0.7");
        assert_eq!(untrusted[FORWARDED_PROTO], "http");
        let proxies: TrustedProxies = "10.0.0.0/24".parse().unwrap();
        let trusted = towards_backend(&incoming, peer, &proxies, None);
        assert_eq!(trusted[FORWARDED_FOR], "1.2.3.4, 5.6.7.8, 10.0.0.7");
        assert_eq!(trusted[FORWARDED_PROTO], "https");
    }

    #[test]
    fn answers_lose_hop_by_hop_headers_but_keep_the_rest() {
        let from = map(&[
            ("transfer-encoding", "chunked"),
            ("content-type", "application/json"),
            ("set-cookie", "a=b"),
        ]);
        let out = towards_client(&from);
        assert!(out.get("transfer-encoding").is_none());
        assert_eq!(out["content-type"], "application/json");
        assert_eq!(out["set-cookie"], "a=b");
    }
}
