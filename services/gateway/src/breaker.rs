//! The circuit breaker of one backend, as a pure state machine: time comes in as an argument, so
//! every transition is tested without sleeping. Closed → Open after N consecutive failures; Open
//! rejects until its time is up; then HalfOpen admits exactly one probe, whose outcome closes or
//! reopens it. Only outcomes of calls admitted in the current state move it, so a slow call
//! admitted long ago cannot close a breaker that opened since.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed { consecutive_failures: u32 },
    Open { until: Instant },
    HalfOpen { probe_in_flight: bool },
}

/// What the breaker says to a call about to be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead; report the outcome with `probe: false`.
    Allowed,
    /// Go ahead as the one trial call; report the outcome with `probe: true`.
    Probe,
    /// Do not call the backend; tell the client to come back after this long.
    Rejected { retry_after: Duration },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Connection error, timeout or 5xx.
    Failure,
}

#[derive(Debug, Clone)]
pub struct Breaker {
    failure_threshold: u32,
    open_for: Duration,
    state: State,
}

impl Breaker {
    /// `failure_threshold` is at least 1 (a zero would open the breaker on nothing).
    pub fn new(failure_threshold: u32, open_for: Duration) -> Self {
        Self {
            failure_threshold: failure_threshold.max(1),
            open_for,
            state: State::Closed {
                consecutive_failures: 0,
            },
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn admit(&mut self, now: Instant) -> Admission {
        match self.state {
            State::Closed { .. } => Admission::Allowed,
            State::Open { until } if now < until => Admission::Rejected {
                retry_after: until - now,
            },
            State::Open { .. }
            | State::HalfOpen {
                probe_in_flight: false,
            } => {
                self.state = State::HalfOpen {
                    probe_in_flight: true,
                };
                Admission::Probe
            }
            State::HalfOpen {
                probe_in_flight: true,
            } => Admission::Rejected {
                // The probe decides soon; asking the client to wait a whole open period would
                // be too long, and a second is the smallest Retry-After there is.
                retry_after: Duration::from_secs(1),
            },
        }
    }

    pub fn record(&mut self, outcome: Outcome, probe: bool, now: Instant) {
        self.state = match (self.state, outcome, probe) {
            (State::Closed { .. }, Outcome::Success, false) => State::Closed {
                consecutive_failures: 0,
            },
            (
                State::Closed {
                    consecutive_failures,
                },
                Outcome::Failure,
                false,
            ) => {
                let failures = consecutive_failures.saturating_add(1);
                if failures >= self.failure_threshold {
                    State::Open {
                        until: now + self.open_for,
                    }
                } else {
                    State::Closed {
                        consecutive_failures: failures,
                    }
                }
            }
            (State::HalfOpen { .. }, Outcome::Success, true) => State::Closed {
                consecutive_failures: 0,
            },
            (State::HalfOpen { .. }, Outcome::Failure, true) => State::Open {
                until: now + self.open_for,
            },
            // A call admitted under an earlier state: its outcome says nothing about now.
            (state, _, _) => state,
        };
    }

    /// The probe was cancelled before it had an outcome (the client went away): let the next
    /// call probe instead of staying half-open forever.
    pub fn abandon_probe(&mut self) {
        if let State::HalfOpen {
            probe_in_flight: true,
        } = self.state
        {
            self.state = State::HalfOpen {
                probe_in_flight: false,
            };
        }
    }

    /// `closed`, `half_open` or `open`: the `state` label of the breaker gauge.
    pub fn state_name(&self) -> &'static str {
        match self.state {
            State::Closed { .. } => "closed",
            State::HalfOpen { .. } => "half_open",
            State::Open { .. } => "open",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN_FOR: Duration = Duration::from_secs(10);

    fn tripped(now: Instant) -> Breaker {
        let mut breaker = Breaker::new(3, OPEN_FOR);
        for _ in 0..3 {
            assert_eq!(breaker.admit(now), Admission::Allowed);
            breaker.record(Outcome::Failure, false, now);
        }
        breaker
    }

    #[test]
    fn opens_after_threshold_consecutive_failures() {
        let now = Instant::now();
        let mut breaker = Breaker::new(3, OPEN_FOR);
        breaker.record(Outcome::Failure, false, now);
        breaker.record(Outcome::Failure, false, now);
        assert!(matches!(breaker.state(), State::Closed { .. }));
        breaker.record(Outcome::Failure, false, now);
        assert_eq!(
            breaker.state(),
            State::Open {
                until: now + OPEN_FOR
            }
        );
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let now = Instant::now();
        let mut breaker = Breaker::new(3, OPEN_FOR);
        breaker.record(Outcome::Failure, false, now);
        breaker.record(Outcome::Failure, false, now);
        breaker.record(Outcome::Success, false, now);
        breaker.record(Outcome::Failure, false, now);
        breaker.record(Outcome::Failure, false, now);
        assert_eq!(
            breaker.state(),
            State::Closed {
                consecutive_failures: 2
            }
        );
    }

    #[test]
    fn open_breaker_rejects_with_the_time_left() {
        let now = Instant::now();
        let mut breaker = tripped(now);
        assert_eq!(
            breaker.admit(now + Duration::from_secs(4)),
            Admission::Rejected {
                retry_after: Duration::from_secs(6)
            }
        );
    }

    #[test]
    fn after_the_open_period_exactly_one_probe_goes_through() {
        let now = Instant::now();
        let mut breaker = tripped(now);
        let later = now + OPEN_FOR;
        assert_eq!(breaker.admit(later), Admission::Probe);
        assert!(matches!(breaker.admit(later), Admission::Rejected { .. }));
    }

    #[test]
    fn successful_probe_closes_and_failed_probe_reopens() {
        let now = Instant::now();
        let later = now + OPEN_FOR;

        let mut closes = tripped(now);
        assert_eq!(closes.admit(later), Admission::Probe);
        closes.record(Outcome::Success, true, later);
        assert_eq!(closes.admit(later), Admission::Allowed);

        let mut reopens = tripped(now);
        assert_eq!(reopens.admit(later), Admission::Probe);
        reopens.record(Outcome::Failure, true, later);
        assert_eq!(
            reopens.state(),
            State::Open {
                until: later + OPEN_FOR
            }
        );
    }

    #[test]
    fn late_outcome_of_a_call_admitted_before_opening_is_ignored() {
        let now = Instant::now();
        let mut breaker = tripped(now);
        breaker.record(Outcome::Success, false, now);
        assert!(matches!(breaker.state(), State::Open { .. }));
        let later = now + OPEN_FOR;
        assert_eq!(breaker.admit(later), Admission::Probe);
        breaker.record(Outcome::Success, false, later);
        assert!(matches!(breaker.state(), State::HalfOpen { .. }));
    }

    #[test]
    fn abandoned_probe_lets_the_next_call_probe() {
        let now = Instant::now();
        let mut breaker = tripped(now);
        let later = now + OPEN_FOR;
        assert_eq!(breaker.admit(later), Admission::Probe);
        breaker.abandon_probe();
        assert_eq!(breaker.admit(later), Admission::Probe);
    }

    #[test]
    fn zero_threshold_is_treated_as_one() {
        let now = Instant::now();
        let mut breaker = Breaker::new(0, OPEN_FOR);
        assert_eq!(breaker.admit(now), Admission::Allowed);
        breaker.record(Outcome::Failure, false, now);
        assert!(matches!(breaker.state(), State::Open { .. }));
    }
}
