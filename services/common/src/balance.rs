//! Which instance of a service the next call goes to: round-robin over the instances, skipping
//! one whose connection failed until its cool-down has passed (a passive health check). Pure:
//! the caller passes the time, so the rules are tested without sleeping. Invariants: a list of
//! one always yields that one (a Kubernetes Service address behaves exactly as without
//! balancing); while any instance is healthy, none in cool-down is chosen; when every instance
//! is cooling down, the one that comes back first is tried rather than none.

use std::time::{Duration, Instant};

/// How long an instance whose connection failed is skipped, unless told otherwise.
pub const DEFAULT_COOL_DOWN: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstancesError {
    #[error("no base URL given; set one URL, or several separated by commas")]
    Empty,
    #[error("{0:?} is not an http:// or https:// base URL")]
    NotHttp(String),
}

/// The base URLs of a service's instances, from `http://a:8080` or `http://a:1,http://b:2`.
pub fn parse_instances(text: &str) -> Result<Vec<String>, InstancesError> {
    let bases: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| part.trim_end_matches('/').to_owned())
        .collect();
    if let Some(bad) = bases
        .iter()
        .find(|b| !(b.starts_with("http://") || b.starts_with("https://")))
    {
        return Err(InstancesError::NotHttp(bad.clone()));
    }
    if bases.is_empty() {
        return Err(InstancesError::Empty);
    }
    Ok(bases)
}

/// The round-robin position and each instance's cool-down.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// When each instance may be tried again; `None` when it is healthy.
    cooling_until: Vec<Option<Instant>>,
    next: usize,
    cool_down: Duration,
}

impl Rotation {
    /// A rotation over `count` instances (at least one is assumed: with zero, `pick` is `None`).
    pub fn new(count: usize, cool_down: Duration) -> Self {
        Self {
            cooling_until: vec![None; count],
            next: 0,
            cool_down,
        }
    }

    pub fn len(&self) -> usize {
        self.cooling_until.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cooling_until.is_empty()
    }

    fn healthy(&self, index: usize, now: Instant) -> bool {
        self.cooling_until[index].is_none_or(|until| now >= until)
    }

    /// The instance for the next attempt, never one in `tried` (the attempts of this call so
    /// far); `None` once every instance has been tried.
    pub fn pick(&mut self, now: Instant, tried: &[usize]) -> Option<usize> {
        let count = self.len();
        let untried = (0..count)
            .map(|step| (self.next + step) % count)
            .filter(|index| !tried.contains(index));
        let mut soonest: Option<(usize, Instant)> = None;
        for index in untried {
            match self.cooling_until[index] {
                Some(until) if now < until => {
                    if soonest.is_none_or(|(_, best)| until < best) {
                        soonest = Some((index, until));
                    }
                }
                _ => {
                    self.next = (index + 1) % count;
                    return Some(index);
                }
            }
        }
        // Everything left is cooling down: try the one that comes back first rather than fail
        // without trying (the caller's breaker decides when to stop calling altogether).
        soonest.map(|(index, _)| index)
    }

    /// The connection to `index` failed: skip it for the cool-down from `now`.
    pub fn failed(&mut self, index: usize, now: Instant) {
        if let Some(slot) = self.cooling_until.get_mut(index) {
            *slot = Some(now + self.cool_down);
        }
    }

    /// `index` answered: it is healthy again, whatever its cool-down said.
    pub fn succeeded(&mut self, index: usize) {
        if let Some(slot) = self.cooling_until.get_mut(index) {
            *slot = None;
        }
    }

    /// The instances skipped at `now`.
    pub fn cooling(&self, now: Instant) -> Vec<usize> {
        (0..self.len())
            .filter(|&index| !self.healthy(index, now))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOL: Duration = Duration::from_secs(5);

    fn picks(rotation: &mut Rotation, now: Instant, n: usize) -> Vec<usize> {
        (0..n).map(|_| rotation.pick(now, &[]).unwrap()).collect()
    }

    #[test]
    fn calls_go_round_robin_over_the_instances() {
        let mut rotation = Rotation::new(3, COOL);
        assert_eq!(
            picks(&mut rotation, Instant::now(), 7),
            [0, 1, 2, 0, 1, 2, 0]
        );
    }

    #[test]
    fn a_failed_instance_is_skipped_during_its_cool_down() {
        let start = Instant::now();
        let mut rotation = Rotation::new(3, COOL);
        rotation.failed(1, start);
        let during = start + COOL - Duration::from_millis(1);
        assert_eq!(picks(&mut rotation, during, 6), [0, 2, 0, 2, 0, 2]);
        assert_eq!(rotation.cooling(during), [1]);
    }

    #[test]
    fn a_failed_instance_is_tried_again_once_its_cool_down_has_passed() {
        let start = Instant::now();
        let mut rotation = Rotation::new(3, COOL);
        rotation.failed(0, start);
        assert_eq!(picks(&mut rotation, start, 2), [1, 2]);
        let after = start + COOL;
        assert_eq!(picks(&mut rotation, after, 3), [0, 1, 2]);
        assert!(rotation.cooling(after).is_empty());
    }

    #[test]
    fn an_answer_ends_the_cool_down_at_once() {
        let start = Instant::now();
        let mut rotation = Rotation::new(2, COOL);
        rotation.failed(0, start);
        rotation.succeeded(0);
        assert_eq!(picks(&mut rotation, start, 2), [0, 1]);
    }

    #[test]
    fn when_all_are_cooling_down_the_first_to_come_back_is_tried() {
        let start = Instant::now();
        let mut rotation = Rotation::new(3, COOL);
        rotation.failed(2, start);
        rotation.failed(0, start + Duration::from_secs(1));
        rotation.failed(1, start + Duration::from_secs(2));
        let now = start + Duration::from_secs(3);
        assert_eq!(rotation.pick(now, &[]), Some(2));
        assert_eq!(rotation.pick(now, &[2]), Some(0));
    }

    #[test]
    fn a_retry_goes_to_an_instance_not_yet_tried_and_stops_when_none_is_left() {
        let now = Instant::now();
        let mut rotation = Rotation::new(3, COOL);
        let first = rotation.pick(now, &[]).unwrap();
        rotation.failed(first, now);
        let second = rotation.pick(now, &[first]).unwrap();
        assert_ne!(second, first);
        let third = rotation.pick(now, &[first, second]).unwrap();
        assert!(![first, second].contains(&third));
        assert_eq!(rotation.pick(now, &[first, second, third]), None);
    }

    #[test]
    fn a_single_instance_is_always_chosen_even_after_it_failed() {
        let now = Instant::now();
        let mut rotation = Rotation::new(1, COOL);
        rotation.failed(0, now);
        assert_eq!(picks(&mut rotation, now, 3), [0, 0, 0]);
        assert_eq!(rotation.pick(now, &[0]), None);
    }

    #[test]
    fn instance_lists_are_one_url_or_several_separated_by_commas() {
        assert_eq!(
            parse_instances("http://catalog:8080/").unwrap(),
            ["http://catalog:8080"]
        );
        assert_eq!(
            parse_instances("http://127.0.0.1:1, http://127.0.0.1:2,").unwrap(),
            ["http://127.0.0.1:1", "http://127.0.0.1:2"]
        );
        assert_eq!(parse_instances(" , "), Err(InstancesError::Empty));
        assert_eq!(
            parse_instances("http://a,catalog:8080"),
            Err(InstancesError::NotHttp("catalog:8080".into()))
        );
    }
}
