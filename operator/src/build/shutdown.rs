//! How a service pod stops: the kubelet's preStop sleep, then SIGTERM, then the services' own
//! drain (`SHUTDOWN_DELAY_SECONDS`, `SHUTDOWN_DRAIN_SECONDS`), all inside the grace period.
//!
//! The point is that a pod leaves the Service's endpoints (and every kube-proxy and sidecar
//! learns so) before the process stops accepting connections. Deleting a pod starts both at
//! once, and endpoint removal takes a moment to spread. The images are FROM scratch with one
//! binary, so an `exec` sleep is impossible; the kubelet's own `preStop.sleep` (Kubernetes
//! 1.30+) waits instead, while the process still serves normally. SIGTERM follows the hook, so
//! by then nobody routes new requests to the pod: the services' own delay is 0 (it would only
//! repeat the wait), and they drain what is in flight for at most `SHUTDOWN_DRAIN_SECONDS`.
//! The grace period, which counts the hook too, is the sum plus a margin, so the kubelet never
//! kills a drain that is still within its bound.

use k8s_openapi::api::core::v1::{Lifecycle, LifecycleHandler, SleepAction};

/// The kubelet's wait in preStop, while endpoints are removed and the process still serves.
pub const PRE_STOP_SLEEP_SECONDS: i64 = 5;
/// The services' own wait after SIGTERM (with `/readyz` answering 503): none, the preStop
/// sleep already covered it.
pub const SHUTDOWN_DELAY_SECONDS: i64 = 0;
/// Longest drain of in-flight requests after SIGTERM: past the gateway's longest deadline (a
/// checkout, 30 s plus a second), so a checkout in flight finishes instead of being cut.
pub const SHUTDOWN_DRAIN_SECONDS: i64 = 35;
/// Slack for the process to exit after its drain (flushing traces, closing pools).
const EXIT_MARGIN_SECONDS: i64 = 5;

/// `terminationGracePeriodSeconds` of a service pod: every phase above, plus the margin.
pub const GRACE_PERIOD_SECONDS: i64 =
    PRE_STOP_SLEEP_SECONDS + SHUTDOWN_DELAY_SECONDS + SHUTDOWN_DRAIN_SECONDS + EXIT_MARGIN_SECONDS;

// The kubelet must never kill a drain that is still within its bound.
const _: () = assert!(
    GRACE_PERIOD_SECONDS > PRE_STOP_SLEEP_SECONDS + SHUTDOWN_DELAY_SECONDS + SHUTDOWN_DRAIN_SECONDS
);

/// The variables that tell a service how to stop, for its ConfigMap.
pub fn env() -> [(&'static str, String); 2] {
    [
        ("SHUTDOWN_DELAY_SECONDS", SHUTDOWN_DELAY_SECONDS.to_string()),
        ("SHUTDOWN_DRAIN_SECONDS", SHUTDOWN_DRAIN_SECONDS.to_string()),
    ]
}

/// With an Istio sidecar: the proxy keeps its connections for the sleep, the delay and the
/// drain (Istio's default is 5 s, after which Envoy exits and a draining request loses its
/// network).
pub const PROXY_CONFIG_ANNOTATION: &str = "proxy.istio.io/config";

pub fn proxy_config() -> (String, String) {
    let seconds = PRE_STOP_SLEEP_SECONDS + SHUTDOWN_DELAY_SECONDS + SHUTDOWN_DRAIN_SECONDS;
    (
        PROXY_CONFIG_ANNOTATION.to_owned(),
        format!("terminationDrainDuration: {seconds}s"),
    )
}

/// The container lifecycle: a kubelet-side sleep before SIGTERM (no binary in the image).
pub fn lifecycle() -> Lifecycle {
    Lifecycle {
        pre_stop: Some(LifecycleHandler {
            sleep: Some(SleepAction {
                seconds: PRE_STOP_SLEEP_SECONDS,
            }),
            ..LifecycleHandler::default()
        }),
        ..Lifecycle::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grace_period_is_the_sleep_the_delay_the_drain_and_a_margin() {
        assert_eq!(GRACE_PERIOD_SECONDS, 45);
        assert_eq!(
            env(),
            [
                ("SHUTDOWN_DELAY_SECONDS", "0".to_owned()),
                ("SHUTDOWN_DRAIN_SECONDS", "35".to_owned())
            ]
        );
        assert_eq!(proxy_config().1, "terminationDrainDuration: 40s");
    }
}
