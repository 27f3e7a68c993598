//! Settings that only the gateway service has (the edge of the API): whose
//! `X-Forwarded-For` it believes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Settings of the gateway service beyond those of every service (spec.services.gateway).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayServiceSpec {
    /// CIDRs of the proxies in front of the gateway (e.g. the pod network the ingress pods run
    /// in: 10.244.0.0/16), as the gateway's GATEWAY_TRUSTED_PROXIES. The client address is the
    /// right-most X-Forwarded-For entry outside these ranges. Behind the Istio ingress gateway
    /// the gateway's own sidecar is trusted too; with neither, the connection's peer is the client.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 43)))]
    pub trusted_proxies: Vec<String>,
}
