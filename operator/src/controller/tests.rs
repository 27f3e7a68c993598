//! Reconcile behaviour against the in-memory cluster.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::runtime::controller::Action;
use serde_json::json;

use super::api::{ApiError, EventType};
use super::fake::FakeCluster;
use super::metrics::Metrics;
use super::reconcile::{self, Context, INVALID_RECHECK, RESYNC, backoff};
use crate::build::OwnedKind;
use crate::build::object::OptionalApi;
use crate::build::secrets::CountingSecrets;
use crate::crd::{EcommercePlatform, Phase, PlatformStatus};

const NS: &str = "shop";

fn platform(spec: serde_json::Value) -> EcommercePlatform {
    serde_json::from_value(json!({
        "apiVersion": "storefront.dev/v1alpha1",
        "kind": "EcommercePlatform",
        "metadata": {"name": "shop", "namespace": NS, "uid": "uid-1", "generation": 1},
        "spec": spec,
    }))
    .unwrap()
}

fn minimal() -> EcommercePlatform {
    platform(json!({"version": "0.1.0"}))
}

fn setup() -> (Arc<FakeCluster>, Context) {
    let fake = Arc::new(FakeCluster::default());
    let mut ctx = Context::new(fake.clone(), Metrics::new());
    ctx.secrets = Mutex::new(Box::new(CountingSecrets::default()));
    ctx.clock = Arc::new(|| Time("2026-01-01T00:00:00Z".parse().unwrap()));
    ctx.canary_metrics = Arc::new(crate::rollout::ScriptedMetrics::default());
    (fake, ctx)
}

/// What the watch cache would hold after our status write.
fn with_last_status(mut p: EcommercePlatform, fake: &FakeCluster) -> EcommercePlatform {
    p.status = fake.with(|s| s.status_writes.last().cloned());
    p
}

/// The status's Degraded condition; a test that expects one fails without it.
fn degraded(status: &PlatformStatus) -> &Condition {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == "Degraded")
        .expect("a Degraded condition")
}

fn workloads(fake: &FakeCluster) -> Vec<(OwnedKind, String)> {
    let mut out: Vec<_> = fake
        .names(OwnedKind::Deployment)
        .into_iter()
        .map(|n| (OwnedKind::Deployment, n))
        .collect();
    out.extend(
        fake.names(OwnedKind::StatefulSet)
            .into_iter()
            .map(|n| (OwnedKind::StatefulSet, n)),
    );
    out
}

/// Every owned workload reports one ready pod, rolled out.
fn all_pods_ready(fake: &FakeCluster) {
    for (kind, name) in workloads(fake) {
        fake.set_ready(kind, NS, &name, 1);
    }
}

/// The minimal platform applied, its pods ready, and reconciled again: Ready.
async fn reconcile_to_ready(fake: &FakeCluster, ctx: &Context) {
    reconcile::reconcile(&minimal(), ctx).await.unwrap();
    all_pods_ready(fake);
    reconcile::reconcile(&with_last_status(minimal(), fake), ctx)
        .await
        .unwrap();
}

#[tokio::test]
async fn first_reconcile_applies_everything_and_reports_progressing() {
    let (fake, ctx) = setup();
    let action = reconcile::reconcile(&minimal(), &ctx).await.unwrap();
    assert_eq!(action, Action::requeue(RESYNC));

    let deployments = fake.names(OwnedKind::Deployment);
    assert_eq!(
        deployments.len(),
        9,
        "every service but loadgen: {deployments:?}"
    );
    assert_eq!(
        fake.names(OwnedKind::StatefulSet),
        ["shop-postgres", "shop-redis"]
    );
    fake.with(|s| {
        assert!(s.deletes.is_empty());
        let status = s.status_writes.last().unwrap();
        assert_eq!(status.phase, Some(Phase::Progressing));
        assert_eq!(status.observed_generation, Some(1));
        assert_eq!(status.components.len(), 11);
        assert_eq!(status.components["catalog"].ready, "0/1");
        assert_eq!(status.components["catalog"].version, "0.1.0");
        assert_eq!(s.events.len(), 1);
        assert_eq!(s.events[0].reason, "Applied");
    });
}

#[tokio::test]
async fn unchanged_second_reconcile_writes_no_status_and_no_event() {
    let (fake, ctx) = setup();
    reconcile::reconcile(&minimal(), &ctx).await.unwrap();
    let (writes, events) = fake.with(|s| (s.status_writes.len(), s.events.len()));

    let stored = with_last_status(minimal(), &fake);
    reconcile::reconcile(&stored, &ctx).await.unwrap();

    fake.with(|s| {
        assert_eq!(
            s.status_writes.len(),
            writes,
            "a steady state must not write status"
        );
        assert_eq!(s.events.len(), events);
        assert!(s.deletes.is_empty());
    });
}

#[tokio::test]
async fn status_is_ready_once_every_owned_workload_is_ready() {
    let (fake, ctx) = setup();
    reconcile_to_ready(&fake, &ctx).await;

    fake.with(|s| {
        let status = s.status_writes.last().unwrap();
        assert_eq!(status.phase, Some(Phase::Ready));
        assert_eq!(status.ready_components.as_deref(), Some("11/11"));
        let ready = status
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .unwrap();
        assert_eq!(ready.status, "True");
        assert_eq!(s.events.last().unwrap().reason, "Ready");
    });
}

#[tokio::test]
async fn a_component_short_of_pods_keeps_the_platform_progressing() {
    let (fake, ctx) = setup();
    let p = platform(json!({"version": "0.1.0", "services": {"gateway": {"replicas": 2}}}));
    reconcile::reconcile(&p, &ctx).await.unwrap();
    all_pods_ready(&fake);
    reconcile::reconcile(&with_last_status(p, &fake), &ctx)
        .await
        .unwrap();
    fake.with(|s| {
        let status = s.status_writes.last().unwrap();
        assert_eq!(status.phase, Some(Phase::Progressing));
        assert_eq!(status.components["gateway"].ready, "1/2");
        let progressing = status
            .conditions
            .iter()
            .find(|c| c.type_ == "Progressing")
            .unwrap();
        assert_eq!(progressing.message, "waiting for gateway");
    });
}

#[tokio::test]
async fn disabling_a_component_deletes_its_objects_and_only_ours() {
    let (fake, ctx) = setup();
    reconcile::reconcile(&minimal(), &ctx).await.unwrap();
    // Same labels, but owned by another platform object (other UID): must survive.
    fake.insert(
        OwnedKind::ConfigMap,
        NS,
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {
                "name": "someone-elses", "namespace": NS,
                "labels": {"app.kubernetes.io/instance": "shop", "app.kubernetes.io/managed-by": "storefront-operator"},
                "ownerReferences": [{"apiVersion": "storefront.dev/v1alpha1", "kind": "EcommercePlatform", "name": "shop", "uid": "uid-OTHER", "controller": true}],
            },
        }),
    );

    let without_web =
        platform(json!({"version": "0.1.0", "services": {"web": {"enabled": false}}}));
    reconcile::reconcile(&with_last_status(without_web, &fake), &ctx)
        .await
        .unwrap();

    fake.with(|s| {
        let mut deleted: Vec<_> = s
            .deletes
            .iter()
            .map(|(k, n)| (k.kind(), n.as_str()))
            .collect();
        deleted.sort();
        assert_eq!(
            deleted,
            [
                ("ConfigMap", "shop-web"),
                ("Deployment", "shop-web"),
                ("Service", "shop-web"),
                ("ServiceAccount", "shop-web"),
            ]
        );
    });
    assert!(
        fake.get(OwnedKind::ConfigMap, NS, "someone-elses")
            .is_some()
    );
    assert!(fake.get(OwnedKind::Deployment, NS, "shop-web").is_none());
    let status = fake.with(|s| s.status_writes.last().cloned().unwrap());
    assert!(!status.components.contains_key("web"));
}

#[tokio::test]
async fn generated_secrets_are_reused_across_reconciles() {
    let (fake, ctx) = setup();
    fake.insert(
        OwnedKind::Secret,
        NS,
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "shop-jwt", "namespace": NS},
            "data": {"signing-key": "a2VwdC1rZXk="}, // "kept-key"
        }),
    );
    reconcile::reconcile(&minimal(), &ctx).await.unwrap();
    let jwt = fake.get(OwnedKind::Secret, NS, "shop-jwt").unwrap();
    assert_eq!(jwt["data"]["signing-key"], "a2VwdC1rZXk=");

    // The database passwords generated in the first pass survive the second.
    let first = fake.get(OwnedKind::Secret, NS, "shop-postgres").unwrap();
    reconcile::reconcile(&with_last_status(minimal(), &fake), &ctx)
        .await
        .unwrap();
    let second = fake.get(OwnedKind::Secret, NS, "shop-postgres").unwrap();
    assert_eq!(first["data"], second["data"]);
}

#[tokio::test]
async fn the_rabbitmq_password_survives_a_reconcile_and_a_restarted_operator() {
    let (fake, ctx) = setup();
    let p = platform(json!({"version": "0.1.0", "events": {"bus": "RabbitMQ"}}));
    reconcile::reconcile(&p, &ctx).await.unwrap();
    let first = fake.get(OwnedKind::Secret, NS, "shop-rabbitmq").unwrap();
    reconcile::reconcile(&with_last_status(p.clone(), &fake), &ctx)
        .await
        .unwrap();
    // A new process: a fresh context whose secret source would hand out the same first value,
    // so only reading the stored Secret keeps the data unchanged.
    let (_, mut restarted) = setup();
    restarted.api = fake.clone();
    reconcile::reconcile(&with_last_status(p, &fake), &restarted)
        .await
        .unwrap();
    let last = fake.get(OwnedKind::Secret, NS, "shop-rabbitmq").unwrap();
    assert_eq!(first["data"], last["data"]);
    assert_eq!(
        fake.names(OwnedKind::StatefulSet),
        ["shop-postgres", "shop-rabbitmq", "shop-redis"]
    );
}

#[tokio::test]
async fn an_external_broker_secret_without_url_is_an_invalid_spec_naming_the_key() {
    let (fake, ctx) = setup();
    fake.insert(
        OwnedKind::Secret,
        NS,
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "amqp", "namespace": NS},
            "data": {"uri": "YW1xcDovL3g="},
        }),
    );
    let p = platform(json!({
        "version": "0.1.0",
        "events": {"bus": "RabbitMQ", "rabbitmq": {"mode": "External", "secretRef": {"name": "amqp"}}},
    }));
    reconcile::reconcile(&p, &ctx).await.unwrap();
    fake.with(|s| {
        assert!(s.applies.is_empty());
        let message = &s.events[0].note;
        assert!(
            message.contains("Secret `amqp` (spec.events.rabbitmq.secretRef) has no key `url`"),
            "{message}"
        );
    });
}

#[tokio::test]
async fn a_refused_object_is_reported_by_name_and_the_others_are_still_applied() {
    for code in [409, 422, 500] {
        let (fake, ctx) = setup();
        fake.with(|s| s.fail_apply = Some((OwnedKind::Deployment, ApiError::status(code, "boom"))));
        let p = platform(
            json!({"version": "0.1.0", "services": {"gateway": {"autoscaling": {"maxReplicas": 3}}}}),
        );
        let error = reconcile::reconcile(&p, &ctx).await.unwrap_err();
        assert!(error.to_string().contains("Deployment `shop-"), "{error}");

        // What comes after the Deployments in apply order was applied all the same.
        assert_eq!(
            fake.names(OwnedKind::HorizontalPodAutoscaler),
            ["shop-gateway"]
        );
        assert_eq!(fake.names(OwnedKind::StatefulSet).len(), 2);
        assert!(!fake.names(OwnedKind::Service).is_empty());
        assert!(fake.names(OwnedKind::Deployment).is_empty());
        assert_eq!(
            reconcile::error_policy(&p, &error, &ctx),
            Action::requeue(Duration::from_secs(5))
        );
        assert_eq!(
            reconcile::error_policy(&p, &error, &ctx),
            Action::requeue(Duration::from_secs(10))
        );
        fake.with(|s| {
            let status = s.status_writes.last().unwrap();
            assert_eq!(status.phase, Some(Phase::Degraded));
            let degraded = degraded(status);
            assert_eq!(degraded.status, "True");
            assert_eq!(degraded.reason, "ApplyFailed");
            assert!(
                degraded
                    .message
                    .contains("Deployment `shop-catalog` was refused: boom"),
                "{}",
                degraded.message
            );
            // The StatefulSets are applied, so their components are still reported.
            assert!(status.components.contains_key("postgres"));
            assert_eq!(s.events.last().unwrap().type_, EventType::Warning);
        });
        assert!(ctx.metrics.encode().contains("kind=\"apply\""));
    }
}

#[tokio::test]
async fn a_statefulset_whose_claim_templates_must_change_is_recreated_keeping_pods_and_claims() {
    let (fake, ctx) = setup();
    reconcile::reconcile(&minimal(), &ctx).await.unwrap();
    // As an older operator left it: the version label inside the claim template.
    fake.with(|s| {
        s.immutable_claim_templates = true;
        let sts = s
            .objects
            .get_mut(&(
                OwnedKind::StatefulSet,
                NS.to_owned(),
                "shop-postgres".to_owned(),
            ))
            .unwrap();
        sts["spec"]["volumeClaimTemplates"][0]["metadata"]["labels"]["app.kubernetes.io/version"] =
            json!("16-alpine");
    });
    let other = platform(json!({"version": "0.1.0", "database": {"storage": "2Gi"}}));
    reconcile::reconcile(&with_last_status(other, &fake), &ctx)
        .await
        .unwrap();
    fake.with(|s| {
        assert_eq!(
            s.orphaning_deletes,
            [(OwnedKind::StatefulSet, "shop-postgres".to_owned())],
            "deleted leaving its pods and claims, and nothing else"
        );
        assert!(s.deletes.is_empty());
        let status = s.status_writes.last().unwrap();
        let degraded = degraded(status);
        assert_eq!(degraded.status, "False", "{}", degraded.message);
    });
    let sts = fake
        .get(OwnedKind::StatefulSet, NS, "shop-postgres")
        .unwrap();
    assert_eq!(
        sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"],
        "2Gi"
    );
}

#[tokio::test]
async fn an_unchanged_platform_sends_no_writes_on_the_next_pass() {
    let (fake, ctx) = setup();
    reconcile_to_ready(&fake, &ctx).await;
    let writes = fake.with(|s| (s.applies.len(), s.status_writes.len(), s.events.len()));
    // Workload status changes (a watch event) and a resync: nothing to write.
    all_pods_ready(&fake);
    reconcile::reconcile(&with_last_status(minimal(), &fake), &ctx)
        .await
        .unwrap();
    assert_eq!(
        fake.with(|s| (s.applies.len(), s.status_writes.len(), s.events.len())),
        writes,
        "a steady state must send no apply, no status write and no event"
    );
}

#[tokio::test]
async fn a_hand_edited_spec_is_applied_again() {
    let (fake, ctx) = setup();
    reconcile::reconcile(&minimal(), &ctx).await.unwrap();
    // Someone scales the Deployment by hand: a new generation.
    fake.with(|s| {
        let d = s
            .objects
            .get_mut(&(
                OwnedKind::Deployment,
                NS.to_owned(),
                "shop-catalog".to_owned(),
            ))
            .unwrap();
        d["spec"]["replicas"] = json!(7);
        d["metadata"]["generation"] = json!(2);
    });
    let before = fake.with(|s| s.applies.len());
    reconcile::reconcile(&with_last_status(minimal(), &fake), &ctx)
        .await
        .unwrap();
    fake.with(|s| {
        assert_eq!(
            s.applies[before..],
            [(OwnedKind::Deployment, "shop-catalog".to_owned())],
            "only the edited object is applied again"
        );
    });
    let d = fake.get(OwnedKind::Deployment, NS, "shop-catalog").unwrap();
    assert_eq!(d["spec"]["replicas"], 1);
}

#[tokio::test]
async fn without_istio_a_mesh_platform_applies_the_rest_and_says_istio_is_missing() {
    let (fake, ctx) = setup();
    fake.with(|s| {
        s.unserved = OwnedKind::ALL
            .into_iter()
            .filter(|k| k.is_istio())
            .collect();
    });
    let p = platform(json!({
        "version": "0.1.0",
        "mesh": {"istio": {"mtls": "STRICT", "ingress": {"hosts": ["shop.test"]}}},
    }));
    let action = reconcile::reconcile(&p, &ctx).await.unwrap();
    assert_eq!(
        action,
        Action::requeue(INVALID_RECHECK),
        "re-checked for Istio soon"
    );
    assert_eq!(fake.names(OwnedKind::Deployment).len(), 9);
    assert!(fake.names(OwnedKind::VirtualService).is_empty());
    fake.with(|s| {
        assert!(
            s.applies.iter().all(|(k, _)| !k.is_istio()),
            "no Istio apply is even attempted"
        );
        let status = s.status_writes.last().unwrap();
        assert_eq!(status.phase, Some(Phase::Degraded));
        let degraded = degraded(status);
        assert_eq!(degraded.reason, "IstioNotInstalled");
        assert!(
            degraded.message.contains("Istio is not installed"),
            "{}",
            degraded.message
        );
        assert!(
            degraded.message.contains("VirtualService"),
            "{}",
            degraded.message
        );
        assert_eq!(s.events.last().unwrap().reason, "IstioNotInstalled");
    });
}

#[tokio::test]
async fn without_the_prometheus_operator_the_pod_monitor_and_rule_are_skipped_and_reported() {
    let (fake, ctx) = setup();
    fake.with(|s| {
        s.unserved = [OwnedKind::PodMonitor, OwnedKind::PrometheusRule].into();
    });
    let p = platform(json!({
        "version": "0.1.0",
        "observability": {"prometheus": {"monitors": true}},
    }));
    let action = reconcile::reconcile(&p, &ctx).await.unwrap();
    assert_eq!(
        action,
        Action::requeue(INVALID_RECHECK),
        "re-checked for the CRD soon, not a crash loop"
    );
    assert_eq!(fake.names(OwnedKind::Deployment).len(), 9);
    fake.with(|s| {
        assert!(
            s.applies
                .iter()
                .all(|(k, _)| k.optional_api() != Some(OptionalApi::PrometheusOperator)),
            "no PodMonitor or PrometheusRule apply is even attempted"
        );
        let status = s.status_writes.last().unwrap();
        let degraded = degraded(status);
        assert_eq!(degraded.reason, "PrometheusOperatorNotInstalled");
        assert!(
            degraded.message.contains("PodMonitor")
                && degraded.message.contains("PrometheusRule")
                && degraded
                    .message
                    .contains("spec.observability.prometheus.monitors"),
            "{}",
            degraded.message
        );
        let event = s.events.last().unwrap();
        assert_eq!(event.reason, "PrometheusOperatorNotInstalled");
        assert_eq!(event.type_, EventType::Warning);
    });
}

#[tokio::test]
async fn with_the_prometheus_operator_the_pod_monitor_and_rule_are_applied_and_removed_when_disabled()
 {
    let (fake, ctx) = setup();
    let on = platform(json!({
        "version": "0.1.0",
        "observability": {"prometheus": {"monitors": true}},
    }));
    reconcile::reconcile(&on, &ctx).await.unwrap();
    assert_eq!(fake.names(OwnedKind::PodMonitor), ["shop-services"]);
    assert_eq!(fake.names(OwnedKind::PrometheusRule), ["shop-alerts"]);
    let mut off = platform(json!({"version": "0.1.0"}));
    off.metadata.generation = Some(2);
    reconcile::reconcile(&with_last_status(off, &fake), &ctx)
        .await
        .unwrap();
    assert!(fake.names(OwnedKind::PodMonitor).is_empty());
    assert!(fake.names(OwnedKind::PrometheusRule).is_empty());
}

#[tokio::test]
async fn without_monitors_a_cluster_lacking_the_prometheus_operator_is_not_degraded() {
    let (fake, ctx) = setup();
    fake.with(|s| {
        s.unserved = [OwnedKind::PodMonitor, OwnedKind::PrometheusRule].into();
    });
    reconcile_to_ready(&fake, &ctx).await;
    fake.with(|s| {
        let status = s.status_writes.last().unwrap();
        assert_eq!(status.phase, Some(Phase::Ready));
    });
}

#[tokio::test]
async fn an_invalid_trusted_proxy_sets_degraded_naming_the_entry() {
    let (fake, ctx) = setup();
    let p = platform(json!({
        "version": "0.1.0",
        "gateway": {"trustedProxies": ["10.244.0.0/16", "10.244.1.0/16"]},
    }));
    let action = reconcile::reconcile(&p, &ctx).await.unwrap();
    assert_eq!(action, Action::requeue(INVALID_RECHECK));
    fake.with(|s| {
        assert!(s.applies.is_empty());
        let status = s.status_writes.last().unwrap();
        assert_eq!(status.phase, Some(Phase::Degraded));
        let degraded = degraded(status);
        assert_eq!(
            degraded.message,
            "spec.gateway.trustedProxies[1] `10.244.1.0/16`: has host bits set; the network is \
             10.244.0.0/16"
        );
        assert_eq!(s.events[0].reason, "InvalidSpec");
    });
}

#[tokio::test]
async fn a_pass_on_a_stale_cached_platform_uses_the_status_it_wrote_last() {
    let (fake, ctx) = setup();
    reconcile_to_ready(&fake, &ctx).await;
    let writes = fake.with(|s| s.status_writes.len());
    // The watch cache still holds the first status (Progressing), not the Ready one.
    let stale = {
        let mut p = minimal();
        p.status = fake.with(|s| s.status_writes.first().cloned());
        p
    };
    reconcile::reconcile(&stale, &ctx).await.unwrap();
    fake.with(|s| {
        assert_eq!(
            s.status_writes.len(),
            writes,
            "the stale copy made the operator write a status it had already written"
        );
        assert_eq!(
            s.events.last().unwrap().reason,
            "Ready",
            "no second Ready event"
        );
    });
}

#[tokio::test]
async fn invalid_spec_sets_degraded_warns_and_applies_nothing() {
    let (fake, ctx) = setup();
    let p = platform(json!({"version": "0.1.0", "database": {"mode": "External"}}));
    let action = reconcile::reconcile(&p, &ctx).await.unwrap();
    assert_eq!(action, Action::requeue(INVALID_RECHECK));
    fake.with(|s| {
        assert!(s.applies.is_empty());
        assert!(s.deletes.is_empty());
        let status = s.status_writes.last().unwrap();
        assert_eq!(status.phase, Some(Phase::Degraded));
        let degraded = degraded(status);
        assert!(
            degraded
                .message
                .contains("spec.database.secretRef is required")
        );
        assert_eq!(s.events.len(), 1);
        assert_eq!(s.events[0].type_, EventType::Warning);
        assert_eq!(s.events[0].reason, "InvalidSpec");
    });
    // The same invalid spec again: no second write, no second event.
    reconcile::reconcile(&with_last_status(p, &fake), &ctx)
        .await
        .unwrap();
    fake.with(|s| {
        assert_eq!(s.status_writes.len(), 1);
        assert_eq!(s.events.len(), 1);
    });
}

#[tokio::test]
async fn missing_referenced_secret_is_an_invalid_spec() {
    let (fake, ctx) = setup();
    let p = platform(
        json!({"version": "0.1.0", "cache": {"mode": "External", "secretRef": {"name": "redis-conn"}}}),
    );
    reconcile::reconcile(&p, &ctx).await.unwrap();
    fake.with(|s| {
        assert!(s.applies.is_empty());
        let message = &s.events[0].note;
        assert!(message.contains("Secret `redis-conn`"), "{message}");
    });
}

#[tokio::test]
async fn a_kind_we_may_not_list_is_skipped_not_fatal() {
    let (fake, ctx) = setup();
    fake.with(|s| s.forbidden_lists.insert(OwnedKind::NetworkPolicy));
    reconcile::reconcile(&minimal(), &ctx).await.unwrap();
    fake.with(|s| {
        assert_eq!(
            s.status_writes.last().unwrap().phase,
            Some(Phase::Progressing)
        )
    });
}

#[test]
fn backoff_doubles_from_five_seconds_up_to_five_minutes() {
    assert_eq!(backoff(1), Duration::from_secs(5));
    assert_eq!(backoff(2), Duration::from_secs(10));
    assert_eq!(backoff(4), Duration::from_secs(40));
    assert_eq!(backoff(20), Duration::from_secs(300));
}
