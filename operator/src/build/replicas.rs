//! How many pods each track of a service runs. With the mesh, the canary's weight is a route
//! and its pods are only sized to carry it; without the mesh, the Service sends requests to
//! every ready pod alike, so the pods' split *is* the traffic split (Argo Rollouts' replica
//! ratio without a traffic router).
//!
//! Invariants, without the mesh: at a weight the two tracks keep the stable pod count of the
//! spec (a fixed count is shared out, never exceeded), the canary gets at least one pod and the
//! stable track keeps at least one; a draining canary has no pods; a canary with no weight yet
//! has one pod to become ready on.

use super::traffic::Canary;
use super::validate::Scaling;
use crate::crd::Percent;

/// Pods per track; `None` leaves the count to the HPA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrackReplicas {
    pub stable: Option<i32>,
    /// `None` when there is no canary.
    pub canary: Option<i32>,
}

/// The stable pods the spec (or its HPA, now) asks for.
fn stable_pods(scaling: Scaling, stable_now: Option<i32>) -> i32 {
    match scaling {
        Scaling::Fixed(n) => n,
        Scaling::Autoscaled { min, .. } => stable_now.unwrap_or(min),
    }
    .clamp(0, 1000)
}

fn spec_stable(scaling: Scaling) -> Option<i32> {
    match scaling {
        Scaling::Fixed(n) => Some(n),
        // The HPA owns the count; leaving it unset keeps the two from fighting.
        Scaling::Autoscaled { .. } => None,
    }
}

/// Pods of each track at this moment of a rollout; `full_size`: a blue/green preview, which
/// runs as many pods as the stable track from its start (it takes all the traffic at once).
pub fn track_replicas(
    scaling: Scaling,
    mesh: bool,
    stable_now: Option<i32>,
    canary: Option<&Canary>,
    full_size: bool,
) -> TrackReplicas {
    let stable = spec_stable(scaling);
    let Some(canary) = canary else {
        return TrackReplicas {
            stable,
            canary: None,
        };
    };
    let pods = stable_pods(scaling, stable_now);
    if full_size {
        return TrackReplicas {
            stable,
            canary: Some(pods.max(1)),
        };
    }
    if mesh {
        // Its weight's share of the stable pods, rounded up, at least one (one while no route
        // points at it, and while its route is removed).
        let weight = i32::from(canary.weight.unwrap_or(Percent::ZERO));
        return TrackReplicas {
            stable,
            canary: Some(((pods * weight + 99) / 100).max(1)),
        };
    }
    let weight = match (canary.draining, canary.weight) {
        (true, _) => {
            return TrackReplicas {
                stable,
                canary: Some(0),
            };
        }
        (false, None) => {
            return TrackReplicas {
                stable,
                canary: Some(1),
            };
        }
        (false, Some(w)) => i32::from(w),
    };
    if weight == 0 {
        return TrackReplicas {
            stable,
            canary: Some(0),
        };
    }
    match scaling {
        Scaling::Fixed(n) => {
            let total = n.clamp(1, 1000);
            let canary = ((total * weight + 99) / 100).clamp(1, (total - 1).max(1));
            TrackReplicas {
                stable: Some((total - canary).max(1)),
                canary: Some(canary),
            }
        }
        // The HPA keeps its pods; the canary is added so that it holds about `weight` of all.
        Scaling::Autoscaled { .. } => {
            let canary = if weight >= 100 {
                pods
            } else {
                (pods * weight + (100 - weight) - 1) / (100 - weight)
            };
            TrackReplicas {
                stable: None,
                canary: Some(canary.max(1)),
            }
        }
    }
}

/// The canary's share of the Service's ready pods, in percent: its traffic without the mesh.
pub fn pod_share(stable_ready: i32, canary_ready: i32) -> Percent {
    let total = i64::from(stable_ready.max(0)) + i64::from(canary_ready.max(0));
    if total == 0 {
        return Percent::ZERO;
    }
    Percent::saturating_from((i64::from(canary_ready.max(0)) * 100 + total / 2) / total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::traffic::Track;

    fn canary(weight: Option<u8>, draining: bool) -> Canary {
        Canary {
            track: Track {
                image: "x:2".into(),
                version: "2".into(),
            },
            weight: weight.map(|w| Percent::new(w).unwrap()),
            mirror: None,
            draining,
        }
    }

    fn split(scaling: Scaling, mesh: bool, c: Option<Canary>) -> (Option<i32>, Option<i32>) {
        let r = track_replicas(scaling, mesh, Some(6), c.as_ref(), false);
        (r.stable, r.canary)
    }

    #[test]
    fn with_the_mesh_the_canary_is_sized_to_its_weight_and_the_stable_pods_stay() {
        let fixed = Scaling::Fixed(10);
        assert_eq!(split(fixed, true, None), (Some(10), None));
        assert_eq!(
            split(fixed, true, Some(canary(None, false))),
            (Some(10), Some(1))
        );
        assert_eq!(
            split(fixed, true, Some(canary(Some(25), false))),
            (Some(10), Some(3))
        );
        assert_eq!(
            split(fixed, true, Some(canary(None, true))),
            (Some(10), Some(1))
        );
    }

    #[test]
    fn without_the_mesh_a_fixed_count_is_shared_out_by_the_weight() {
        let fixed = Scaling::Fixed(10);
        for (weight, expected) in [(10, (9, 1)), (25, (7, 3)), (50, (5, 5)), (99, (1, 9))] {
            assert_eq!(
                split(fixed, false, Some(canary(Some(weight), false))),
                (Some(expected.0), Some(expected.1)),
                "{weight}%"
            );
        }
    }

    #[test]
    fn without_the_mesh_each_track_keeps_a_pod_so_small_counts_are_approximate() {
        assert_eq!(
            split(Scaling::Fixed(2), false, Some(canary(Some(10), false))),
            (Some(1), Some(1)),
            "10% of two pods is one of each: 50%"
        );
        assert_eq!(
            split(Scaling::Fixed(1), false, Some(canary(Some(20), false))),
            (Some(1), Some(1)),
            "one pod cannot be shared: one of each"
        );
    }

    #[test]
    fn without_the_mesh_a_starting_canary_has_one_pod_and_a_draining_one_none() {
        let fixed = Scaling::Fixed(4);
        assert_eq!(
            split(fixed, false, Some(canary(None, false))),
            (Some(4), Some(1))
        );
        assert_eq!(
            split(fixed, false, Some(canary(None, true))),
            (Some(4), Some(0))
        );
        assert_eq!(
            split(fixed, false, Some(canary(Some(50), true))),
            (Some(4), Some(0))
        );
        assert_eq!(
            split(fixed, false, Some(canary(Some(0), false))),
            (Some(4), Some(0))
        );
    }

    #[test]
    fn without_the_mesh_an_autoscaled_stable_keeps_its_hpa_and_the_canary_is_added() {
        let hpa = Scaling::Autoscaled {
            min: 2,
            max: 10,
            target_cpu: 70,
        };
        // 6 stable pods now: 2 canary pods hold 25% of 8.
        assert_eq!(
            split(hpa, false, Some(canary(Some(25), false))),
            (None, Some(2))
        );
        assert_eq!(
            split(hpa, false, Some(canary(Some(50), false))),
            (None, Some(6))
        );
        assert_eq!(
            split(hpa, false, Some(canary(Some(100), false))),
            (None, Some(6))
        );
    }

    #[test]
    fn a_blue_green_preview_runs_as_many_pods_as_the_stable_track_from_its_start() {
        let fixed = Scaling::Fixed(5);
        for c in [
            canary(None, false),
            canary(Some(0), false),
            canary(Some(100), false),
        ] {
            let r = track_replicas(fixed, true, None, Some(&c), true);
            assert_eq!((r.stable, r.canary), (Some(5), Some(5)), "{c:?}");
        }
        let hpa = Scaling::Autoscaled {
            min: 2,
            max: 10,
            target_cpu: 70,
        };
        let r = track_replicas(hpa, true, Some(7), Some(&canary(Some(0), false)), true);
        assert_eq!(
            (r.stable, r.canary),
            (None, Some(7)),
            "as many as the HPA runs now"
        );
    }

    #[test]
    fn the_pod_share_is_the_canary_s_part_of_the_ready_pods() {
        assert_eq!(pod_share(9, 1).get(), 10);
        assert_eq!(pod_share(1, 1).get(), 50);
        assert_eq!(pod_share(2, 1).get(), 33);
        assert_eq!(pod_share(0, 0).get(), 0);
        assert_eq!(pod_share(3, 0).get(), 0);
        assert_eq!(pod_share(0, 2).get(), 100);
    }
}
