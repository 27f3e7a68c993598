//! The one-line summary of the rollouts in flight, for `kubectl get ecp`'s ROLLOUT column:
//! `catalog 25% (2/3)`, `orders 20% manual`, `cart 10% (1/3) paused`, `web mirror 40% (1/4)`,
//! `users preview (1/2)` (blue/green), `payments promoting`.

use std::collections::BTreeMap;

use crate::crd::{RolloutPhase, RolloutStatus};

/// One service's part of the summary; `None` once its rollout has finished.
fn of(service: &str, s: &RolloutStatus) -> Option<String> {
    let weight = s.canary_weight.map_or(0, |w| w.get());
    let paused = if s.paused == Some(true) {
        " paused"
    } else {
        ""
    };
    let state = match s.phase {
        RolloutPhase::Initializing => format!("starting{paused}"),
        RolloutPhase::Progressing => {
            let step = s.step.unwrap_or(0);
            let weight = match s.mirror {
                Some(mirror) => format!("mirror {mirror}%"),
                // Only a blue/green preview progresses with nothing routed and nothing copied.
                None if weight == 0 => "preview".to_owned(),
                None => format!("{weight}%"),
            };
            match s.steps {
                Some(steps) => format!("{weight} ({step}/{steps}){paused}"),
                None => format!("{weight} (step {step}){paused}"),
            }
        }
        RolloutPhase::Manual => format!("{weight}% manual{paused}"),
        RolloutPhase::Promoting | RolloutPhase::Finalizing => "promoting".to_owned(),
        RolloutPhase::RollingBack => "rolling back".to_owned(),
        RolloutPhase::Aborted if weight > 0 => "aborting".to_owned(),
        RolloutPhase::Aborted | RolloutPhase::Succeeded | RolloutPhase::RolledBack => {
            return None;
        }
    };
    Some(format!("{service} {state}"))
}

/// Every rollout in flight, by service name; `None` when there is none.
pub fn summary(rollouts: &BTreeMap<String, RolloutStatus>) -> Option<String> {
    let parts: Vec<String> = rollouts.iter().filter_map(|(n, s)| of(n, s)).collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::Percent;

    fn status(phase: RolloutPhase, weight: u8) -> RolloutStatus {
        RolloutStatus {
            phase,
            canary_weight: Some(Percent::new(weight).unwrap()),
            step: Some(2),
            steps: Some(3),
            ..RolloutStatus::default()
        }
    }

    #[test]
    fn each_rollout_in_flight_is_one_part() {
        let mut paused = status(RolloutPhase::Progressing, 10);
        paused.paused = Some(true);
        let rollouts = BTreeMap::from([
            ("cart".to_owned(), paused),
            ("catalog".to_owned(), status(RolloutPhase::Progressing, 25)),
            ("orders".to_owned(), status(RolloutPhase::Manual, 20)),
            ("users".to_owned(), status(RolloutPhase::Finalizing, 0)),
            ("web".to_owned(), status(RolloutPhase::Succeeded, 0)),
        ]);
        assert_eq!(
            summary(&rollouts).as_deref(),
            Some("cart 10% (2/3) paused, catalog 25% (2/3), orders 20% manual, users promoting")
        );
    }

    #[test]
    fn the_mirror_step_shows_its_copy_instead_of_its_0_percent() {
        let mut mirroring = status(RolloutPhase::Progressing, 0);
        mirroring.step = Some(1);
        mirroring.mirror = Some(Percent::new(40).unwrap());
        let rollouts = BTreeMap::from([("web".to_owned(), mirroring)]);
        assert_eq!(summary(&rollouts).as_deref(), Some("web mirror 40% (1/3)"));
    }

    #[test]
    fn a_blue_green_preview_shows_as_such() {
        let mut preview = status(RolloutPhase::Progressing, 0);
        preview.step = Some(1);
        preview.steps = Some(2);
        let rollouts = BTreeMap::from([("cart".to_owned(), preview)]);
        assert_eq!(summary(&rollouts).as_deref(), Some("cart preview (1/2)"));
    }

    #[test]
    fn finished_rollouts_leave_the_column_empty() {
        let rollouts = BTreeMap::from([
            ("catalog".to_owned(), status(RolloutPhase::Succeeded, 0)),
            ("orders".to_owned(), status(RolloutPhase::RolledBack, 0)),
            ("web".to_owned(), status(RolloutPhase::Aborted, 0)),
        ]);
        assert_eq!(summary(&rollouts), None);
        let aborting = BTreeMap::from([("web".to_owned(), status(RolloutPhase::Aborted, 5))]);
        assert_eq!(summary(&aborting).as_deref(), Some("web aborting"));
    }
}
