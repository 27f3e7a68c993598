//! `CanarySteps`: the checked `rollout.steps` of a Canary service, the traffic share of each step,
//! and the mirror step before them when `rollout.mirror` asks for one.
//!
//! Invariant: at least one weighted step, each between 1 and 99 percent, strictly increasing (the
//! same rules the CRD's CEL validations enforce at the API server). With a mirror, step 1 routes
//! 0% to the canary and copies the mirror's share to it; the weighted steps follow from step 2.

use crate::crd::Percent;

/// The steps of a canary, in order; step numbers are 1-based, as `status.rollouts.*.step`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CanarySteps {
    weights: Vec<Percent>,
    mirror: Option<Percent>,
}

/// The steps break a rule of [`CanarySteps`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CanaryStepsError {
    #[error("[]: a canary needs at least one step, e.g. [10, 25, 50]")]
    Empty,
    #[error("{:?}: steps must be strictly increasing and each between 1 and 99", numbers(.0))]
    Invalid(Vec<Percent>),
}

fn numbers(steps: &[Percent]) -> Vec<u8> {
    steps.iter().map(|p| p.get()).collect()
}

const fn percent(value: u8) -> Percent {
    match Percent::new(value) {
        Ok(p) => p,
        Err(_) => panic!("a percentage literal above 100"),
    }
}

/// The steps of a canary whose spec names none.
const DEFAULT_STEPS: [Percent; 3] = [percent(10), percent(25), percent(50)];

impl CanarySteps {
    /// Checked steps: at least one, each 1..=99, strictly increasing.
    pub fn new(steps: Vec<Percent>) -> Result<Self, CanaryStepsError> {
        if steps.is_empty() {
            return Err(CanaryStepsError::Empty);
        }
        let in_range = steps.iter().all(|s| (1..=99).contains(&s.get()));
        let increasing = steps.windows(2).all(|w| w[0] < w[1]);
        if !in_range || !increasing {
            return Err(CanaryStepsError::Invalid(steps));
        }
        Ok(Self {
            weights: steps,
            mirror: None,
        })
    }

    /// The two steps of a blue/green rollout: the preview (0% routed, the new version at full
    /// size on its preview Service), then the switch (100%).
    pub fn blue_green() -> Self {
        Self {
            weights: vec![Percent::ZERO, Percent::HUNDRED],
            mirror: None,
        }
    }

    /// The same steps after a mirror step copying `mirror` percent of the stable track's
    /// requests to the canary (none when `None` or 0).
    pub fn with_mirror(mut self, mirror: Option<Percent>) -> Self {
        self.mirror = mirror.filter(|m| *m > Percent::ZERO);
        self
    }

    /// Number of steps (at least one), the mirror step included.
    pub fn count(&self) -> usize {
        self.weights.len() + usize::from(self.mirror.is_some())
    }

    /// Traffic share of the first step (0 when it mirrors).
    pub fn first(&self) -> Percent {
        self.weight_of(1)
    }

    /// Traffic share of step `step` (1-based); 0 counts as the first step and a number past the
    /// end as the last, so a status from an edited spec still names a step that exists.
    pub fn weight_of(&self, step: usize) -> Percent {
        let step = step.max(1);
        if self.mirror.is_some() && step == 1 {
            return Percent::ZERO;
        }
        let index = step - 1 - usize::from(self.mirror.is_some());
        self.weights[index.min(self.weights.len() - 1)]
    }

    /// Share of the stable track's requests copied to the canary at step `step` (1-based, 0
    /// counting as the first): the mirror's at the mirror step, `None` elsewhere.
    pub fn mirror_at(&self, step: usize) -> Option<Percent> {
        self.mirror.filter(|_| step <= 1)
    }

    /// Traffic share of the step after `step` (1-based); `None` when `step` is the last.
    pub fn after(&self, step: usize) -> Option<Percent> {
        (step < self.count()).then(|| self.weight_of(step + 1))
    }

    /// The weighted steps, in order (without the mirror step).
    pub fn as_slice(&self) -> &[Percent] {
        &self.weights
    }

    /// The mirror step's share, if there is one.
    pub fn mirror(&self) -> Option<Percent> {
        self.mirror
    }
}

impl Default for CanarySteps {
    /// 10, 25, 50 percent: the steps of a canary whose spec names none.
    fn default() -> Self {
        Self {
            weights: DEFAULT_STEPS.to_vec(),
            mirror: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(values: &[u8]) -> Vec<Percent> {
        values.iter().map(|&v| Percent::new(v).unwrap()).collect()
    }

    #[test]
    fn accepts_strictly_increasing_steps_between_1_and_99() {
        for ok in [&[1][..], &[99], &[10, 25, 50], &[1, 2, 98, 99]] {
            let checked = CanarySteps::new(steps(ok)).unwrap();
            assert_eq!(checked.as_slice(), steps(ok).as_slice());
        }
    }

    #[test]
    fn rejects_no_steps() {
        assert_eq!(CanarySteps::new(Vec::new()), Err(CanaryStepsError::Empty));
    }

    #[test]
    fn rejects_0_and_100() {
        for bad in [&[0, 10][..], &[10, 100], &[100]] {
            assert_eq!(
                CanarySteps::new(steps(bad)),
                Err(CanaryStepsError::Invalid(steps(bad))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn rejects_steps_that_do_not_increase() {
        for bad in [&[50, 20][..], &[10, 10], &[10, 30, 20]] {
            assert!(CanarySteps::new(steps(bad)).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn the_error_lists_the_steps_as_written() {
        let error = CanarySteps::new(steps(&[50, 20])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "[50, 20]: steps must be strictly increasing and each between 1 and 99"
        );
    }

    #[test]
    fn the_default_is_10_25_50_and_valid() {
        let default = CanarySteps::default();
        assert_eq!(default.as_slice(), steps(&[10, 25, 50]).as_slice());
        assert_eq!(CanarySteps::new(default.as_slice().to_vec()), Ok(default));
    }

    #[test]
    fn step_numbers_are_1_based_and_clamped() {
        let s = CanarySteps::new(steps(&[10, 25, 50])).unwrap();
        assert_eq!(s.first().get(), 10);
        assert_eq!(s.count(), 3);
        let weight_of = |n| s.weight_of(n).get();
        assert_eq!(
            [0, 1, 2, 3, 4].map(weight_of),
            [10, 10, 25, 50, 50],
            "0 is the first step, past the end the last"
        );
        assert_eq!(s.after(1).map(Percent::get), Some(25));
        assert_eq!(s.after(2).map(Percent::get), Some(50));
        assert_eq!(s.after(3), None, "no step after the last");
        assert_eq!([0, 1, 2, 3].map(|n| s.mirror_at(n)), [None; 4]);
    }

    #[test]
    fn a_mirror_is_step_1_at_0_percent_before_the_weighted_steps() {
        let s = CanarySteps::new(steps(&[10, 50]))
            .unwrap()
            .with_mirror(Some(Percent::new(30).unwrap()));
        assert_eq!(s.count(), 3, "the mirror step counts");
        assert_eq!(s.first(), Percent::ZERO, "nothing routed while mirroring");
        let weight_of = |n| s.weight_of(n).get();
        assert_eq!([0, 1, 2, 3, 4].map(weight_of), [0, 0, 10, 50, 50]);
        let mirror_at = |n| s.mirror_at(n).map(Percent::get);
        assert_eq!(
            [0, 1, 2, 3].map(mirror_at),
            [Some(30), Some(30), None, None]
        );
        assert_eq!(s.after(1).map(Percent::get), Some(10));
        assert_eq!(s.after(2).map(Percent::get), Some(50));
        assert_eq!(s.after(3), None);
        assert_eq!(s.as_slice(), steps(&[10, 50]).as_slice());
    }

    #[test]
    fn a_mirror_of_0_is_no_mirror() {
        let s = CanarySteps::default().with_mirror(Some(Percent::ZERO));
        assert_eq!(s, CanarySteps::default());
    }

    #[test]
    fn blue_green_is_a_preview_at_0_then_the_switch_to_100() {
        let s = CanarySteps::blue_green();
        assert_eq!(s.count(), 2);
        assert_eq!([1, 2].map(|n| s.weight_of(n).get()), [0, 100]);
        assert_eq!(s.after(1), Some(Percent::HUNDRED));
        assert_eq!(s.after(2), None);
    }
}
