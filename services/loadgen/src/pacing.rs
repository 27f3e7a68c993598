//! When virtual users act: think time between operations and start offsets during ramp-up. Pure
//! functions of a random source, so they are tested without waiting.

use std::time::Duration;

use rand::{Rng, RngExt};

/// An exponential draw can be arbitrarily long; past ten means it would stall a short run.
const MAX_THINK_FACTOR: f64 = 10.0;

/// The pause a user takes between two operations, given as its mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Think {
    Exponential(Duration),
    /// Uniform within ±50% of the mean.
    Uniform(Duration),
}

impl Think {
    pub fn mean(self) -> Duration {
        match self {
            Think::Exponential(mean) | Think::Uniform(mean) => mean,
        }
    }

    pub fn distribution(self) -> &'static str {
        match self {
            Think::Exponential(_) => "exponential",
            Think::Uniform(_) => "uniform",
        }
    }

    pub fn sample<R: Rng + ?Sized>(self, rng: &mut R) -> Duration {
        let mean = self.mean();
        if mean.is_zero() {
            return Duration::ZERO;
        }
        let factor = match self {
            Think::Exponential(_) => {
                // 1 - u is in (0, 1], so the logarithm is finite.
                let u: f64 = rng.random();
                (-(1.0 - u).ln()).min(MAX_THINK_FACTOR)
            }
            Think::Uniform(_) => rng.random_range(0.5..=1.5),
        };
        mean.mul_f64(factor)
    }
}

/// When user `index` (0-based) of `users` starts, spreading them evenly over `ramp_up`.
pub fn start_offset(index: u32, users: u32, ramp_up: Duration) -> Duration {
    if users == 0 {
        return Duration::ZERO;
    }
    ramp_up.mul_f64(f64::from(index) / f64::from(users))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn mean_of(think: Think, draws: u32) -> f64 {
        let mut rng = StdRng::seed_from_u64(3);
        let sum: f64 = (0..draws)
            .map(|_| think.sample(&mut rng).as_secs_f64())
            .sum();
        sum / f64::from(draws)
    }

    #[test]
    fn zero_think_time_never_pauses() {
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(
            Think::Exponential(Duration::ZERO).sample(&mut rng),
            Duration::ZERO
        );
        assert_eq!(
            Think::Uniform(Duration::ZERO).sample(&mut rng),
            Duration::ZERO
        );
    }

    #[test]
    fn exponential_think_time_averages_the_mean_and_is_capped() {
        let think = Think::Exponential(Duration::from_millis(100));
        let mean = mean_of(think, 50_000);
        // The cap at ten means trims the mean by e^-10, far below this tolerance.
        assert!((mean - 0.100).abs() < 0.003, "{mean}");
        let mut rng = StdRng::seed_from_u64(5);
        assert!((0..10_000).all(|_| think.sample(&mut rng) <= Duration::from_secs(1)));
    }

    #[test]
    fn uniform_think_time_stays_within_half_of_the_mean() {
        let think = Think::Uniform(Duration::from_millis(100));
        let mut rng = StdRng::seed_from_u64(5);
        for _ in 0..10_000 {
            let d = think.sample(&mut rng);
            assert!(
                d >= Duration::from_millis(50) && d <= Duration::from_millis(150),
                "{d:?}"
            );
        }
        assert!((mean_of(think, 50_000) - 0.100).abs() < 0.002);
    }

    #[test]
    fn ramp_up_spreads_starts_evenly() {
        let ramp = Duration::from_secs(10);
        assert_eq!(start_offset(0, 4, ramp), Duration::ZERO);
        assert_eq!(start_offset(1, 4, ramp), Duration::from_millis(2500));
        assert_eq!(start_offset(3, 4, ramp), Duration::from_millis(7500));
        assert_eq!(start_offset(3, 4, Duration::ZERO), Duration::ZERO);
    }
}
