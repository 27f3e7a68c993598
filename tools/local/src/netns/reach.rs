//! Where each component is in netns mode, and reaching it: a store's [`Placement`] from the
//! plan, and running async code from the router namespace, which is on every tier's bridge (its
//! own traffic is not forwarded, so the policy does not apply to it).

use storefront_testkit::{Placement, StartError, in_netns};

use super::Topology;

/// Where `name` lives in netns mode: its namespace and address.
pub fn placement(topology: &Topology, name: &str, port: u16) -> Placement {
    instance_placement(topology, name, 1, port)
}

/// Where instance `instance` (from 1) of `name` lives in netns mode.
pub fn instance_placement(
    topology: &Topology,
    name: &str,
    instance: usize,
    port: u16,
) -> Placement {
    let node = topology.plan.instance(name, instance);
    Placement {
        host: node.map_or([127, 0, 0, 1].into(), |n| n.address.into()),
        port: Some(port),
        netns: node.map(|n| n.netns.clone()),
    }
}

/// Runs `f` from the router namespace (which reaches every tier), on a runtime of its own on a
/// thread moved there; the caller's worker is handed over meanwhile, so this needs tokio's
/// multi-thread runtime.
pub fn from_router<T: Send>(
    router: &str,
    f: impl std::future::Future<Output = T> + Send,
) -> Result<T, StartError> {
    let run = || {
        in_netns(router, || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|rt| rt.block_on(f))
        })
    };
    let outcome = tokio::task::block_in_place(run)?;
    outcome.map_err(|e| StartError::Failed {
        what: "a runtime in the router namespace".into(),
        detail: e.to_string(),
    })
}
