//! `storefront-operator run`: connect, serve health and metrics, win the Lease, run the
//! controller until SIGTERM (or lost leadership), then stop gracefully and release the Lease.
//!
//! Watches: the primary through `DeserializeGuard` (an object that does not decode is logged and
//! skipped instead of breaking the stream), filtered on its generation and its rollout command
//! annotations (`spec_or_commands`) so status writes do not trigger reconciles and a command
//! acts at once; every owned kind, limited to objects labelled
//! `app.kubernetes.io/managed-by=storefront-operator`. All watches retry with default backoff.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::core::DeserializeGuard;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::{WatchStreamExt, predicates, reflector, watcher};
use kube::{Api, Client, Resource};
use tokio::sync::watch;
use tracing::{info, warn};

use super::Metrics;
use super::kube_api::KubeApi;
use super::leader::{Elector, LeaseConfig};
use super::reconcile::{self, Context, ReconcileError};
use super::server::{self, Health};
use crate::build::labels::{MANAGED_BY, MANAGER};
use crate::crd::EcommercePlatform;

/// What a change of the platform must touch to be reconciled: its generation (the spec) or its
/// rollout command annotations (`rollout.storefront.dev/<service>`).
fn spec_or_commands(platform: &DeserializeGuard<EcommercePlatform>) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    predicates::generation(platform).hash(&mut hasher);
    if let Some(annotations) = &platform.meta().annotations {
        annotations
            .iter()
            .filter(|(key, _)| key.starts_with(crate::rollout::COMMAND_PREFIX))
            .for_each(|entry| entry.hash(&mut hasher));
    }
    Some(hasher.finish())
}

/// Settings of `run`.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub listen: SocketAddr,
    pub lease: LeaseConfig,
    /// Watch only this namespace (a Role-only install); `None` watches every namespace.
    pub watch_namespace: Option<String>,
}

/// Why `run` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot reach the Kubernetes API (in-cluster config or KUBECONFIG): {0}")]
    Connect(kube::Error),
    #[error("health server: {0}")]
    Server(std::io::Error),
    #[error("lost leadership; exiting so a fresh process can compete again")]
    LostLeadership,
}

/// Run until SIGTERM/Ctrl-C.
pub async fn run(options: RunOptions) -> Result<(), RunError> {
    let client = Client::try_default().await.map_err(RunError::Connect)?;
    let metrics = Metrics::new();
    let ready = Arc::new(AtomicBool::new(false));
    let (stop_tx, stop_rx) = watch::channel(false);

    let signal_tx = stop_tx.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        info!("shutdown signal received");
        let _ = signal_tx.send(true);
    });
    let health = Health {
        metrics: metrics.clone(),
        ready: ready.clone(),
    };
    let server = tokio::spawn(server::serve(options.listen, health, stop_rx.clone()));
    ready.store(true, Ordering::Relaxed);

    let elector = Arc::new(Elector::new(client.clone(), options.lease.clone()));
    let mut stopping = stop_rx.clone();
    tokio::select! {
        () = elector.acquire() => {}
        _ = stopping.wait_for(|s| *s) => {
            let _ = server.await;
            return Ok(());
        }
    }

    // Leadership lost: stop reconciling at once (the controller future is dropped, cancelling
    // reconciles in flight at their next await), not after a graceful drain.
    let (lost_tx, mut lost_rx) = watch::channel(false);
    let keeper = {
        let elector = elector.clone();
        tokio::spawn(async move {
            elector.keep().await;
            let _ = lost_tx.send(true);
        })
    };

    let api = Arc::new(KubeApi::new(
        client.clone(),
        Some(options.lease.identity.clone()),
    ));
    let ctx = Arc::new(Context::new(api, metrics));
    let mut shutdown = stop_rx.clone();
    let controller = run_controller(
        client,
        options.watch_namespace.as_deref(),
        ctx,
        async move {
            let _ = shutdown.wait_for(|s| *s).await;
        },
    );
    let lost = tokio::select! {
        () = controller => false,
        _ = lost_rx.wait_for(|l| *l) => true,
    };
    if lost {
        warn!("lost leadership; stopped reconciling");
        let _ = stop_tx.send(true);
    }

    ready.store(false, Ordering::Relaxed);
    keeper.abort();
    if !lost {
        elector.release().await;
    }
    match server.await {
        Ok(Err(error)) => return Err(RunError::Server(error)),
        Err(error) => warn!(%error, "health server task ended abnormally"),
        Ok(Ok(())) => {}
    }
    if lost {
        return Err(RunError::LostLeadership);
    }
    info!("stopped");
    Ok(())
}

/// An API over every namespace, or only `namespace` when the operator is limited to one.
fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    <K as kube::Resource>::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

async fn run_controller(
    client: Client,
    namespace: Option<&str>,
    ctx: Arc<Context>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    if let Some(ns) = namespace {
        info!(namespace = ns, "watching one namespace only");
    }
    let platforms: Api<DeserializeGuard<EcommercePlatform>> = scoped(&client, namespace);
    let (reader, writer) = reflector::store();
    let primary = watcher(platforms, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(spec_or_commands, Default::default());
    let owned = watcher::Config::default().labels(&format!("{MANAGED_BY}={MANAGER}"));
    Controller::for_stream(primary, reader)
        .owns(scoped::<Deployment>(&client, namespace), owned.clone())
        .owns(scoped::<StatefulSet>(&client, namespace), owned.clone())
        .owns(scoped::<Service>(&client, namespace), owned.clone())
        .owns(scoped::<ServiceAccount>(&client, namespace), owned.clone())
        .owns(scoped::<ConfigMap>(&client, namespace), owned.clone())
        .owns(scoped::<Secret>(&client, namespace), owned.clone())
        .owns(
            scoped::<HorizontalPodAutoscaler>(&client, namespace),
            owned.clone(),
        )
        .owns(
            scoped::<PodDisruptionBudget>(&client, namespace),
            owned.clone(),
        )
        .owns(scoped::<NetworkPolicy>(&client, namespace), owned)
        .graceful_shutdown_on(shutdown)
        .run(reconcile_guarded, error_policy_guarded, ctx)
        .for_each(|result| async move {
            // Errors are already logged and requeued by the error policy; this keeps the
            // stream alive whatever a single object does.
            if let Err(error) = result {
                tracing::debug!(%error, "controller event");
            }
        })
        .await;
}

async fn reconcile_guarded(
    object: Arc<DeserializeGuard<EcommercePlatform>>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    match &object.0 {
        Ok(platform) => reconcile::reconcile(platform, &ctx).await,
        Err(invalid) => {
            warn!(
                name = ?invalid.metadata.name,
                namespace = ?invalid.metadata.namespace,
                error = %invalid.error,
                "EcommercePlatform does not decode; skipping it until it changes"
            );
            ctx.metrics.undecodable();
            Ok(Action::await_change())
        }
    }
}

fn error_policy_guarded(
    object: Arc<DeserializeGuard<EcommercePlatform>>,
    error: &ReconcileError,
    ctx: Arc<Context>,
) -> Action {
    match &object.0 {
        Ok(platform) => reconcile::error_policy(platform, error, &ctx),
        Err(_) => Action::requeue(Duration::from_secs(300)),
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(error) => {
                warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the operator");
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
