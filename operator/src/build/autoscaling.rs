//! HorizontalPodAutoscaler (autoscaling/v2, CPU) and PodDisruptionBudget of a service.
//!
//! Invariant: a PDB exists exactly when a service can run more than one pod (replicas > 1 or
//! autoscaling), so a single-pod service never blocks a node drain.

use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec,
    MetricTarget, ResourceMetricSource,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::object::DesiredObject;
use super::validate::{Scaling, ValidatedPlatform, ValidatedService};

/// The HPA and PDB of a service, when its scaling asks for them.
pub fn build(platform: &ValidatedPlatform, service: &ValidatedService) -> Vec<DesiredObject> {
    let o = &platform.ownership;
    let name = service.component.name();
    let mut out = Vec::new();
    if let Scaling::Autoscaled {
        min,
        max,
        target_cpu,
    } = service.scaling
    {
        out.push(DesiredObject::HorizontalPodAutoscaler(
            HorizontalPodAutoscaler {
                metadata: o.meta(o.object_name(name), name, &service.version),
                spec: Some(HorizontalPodAutoscalerSpec {
                    scale_target_ref: CrossVersionObjectReference {
                        api_version: Some("apps/v1".to_owned()),
                        kind: "Deployment".to_owned(),
                        name: o.object_name(name),
                    },
                    min_replicas: Some(min),
                    max_replicas: max,
                    metrics: Some(vec![MetricSpec {
                        type_: "Resource".to_owned(),
                        resource: Some(ResourceMetricSource {
                            name: "cpu".to_owned(),
                            target: MetricTarget {
                                type_: "Utilization".to_owned(),
                                average_utilization: Some(target_cpu),
                                ..MetricTarget::default()
                            },
                        }),
                        ..MetricSpec::default()
                    }]),
                    ..HorizontalPodAutoscalerSpec::default()
                }),
                ..HorizontalPodAutoscaler::default()
            },
        ));
    }
    let needs_pdb = match service.scaling {
        Scaling::Fixed(n) => n > 1,
        Scaling::Autoscaled { .. } => true,
    };
    if needs_pdb {
        out.push(DesiredObject::PodDisruptionBudget(PodDisruptionBudget {
            metadata: o.meta(o.object_name(name), name, &service.version),
            spec: Some(PodDisruptionBudgetSpec {
                max_unavailable: Some(IntOrString::Int(1)),
                selector: Some(o.selector(service.component)),
                ..PodDisruptionBudgetSpec::default()
            }),
            ..PodDisruptionBudget::default()
        }));
    }
    out
}
