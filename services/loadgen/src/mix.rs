//! The operations a virtual user performs and the weighted mix it picks them from. Pure: parsing
//! refuses anything ambiguous (unknown names, duplicates, a zero total), and picking is a plain
//! weighted draw from a caller-supplied random source, so a fixed seed gives a fixed sequence.

use std::fmt;
use std::str::FromStr;

use rand::{Rng, RngExt};
use serde::{Serialize, Serializer};

/// Everything the load generator times. `Register` and `Login` happen once per virtual user
/// before its loop; the other four are what the mix chooses from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    Browse,
    ViewCart,
    AddToCart,
    Checkout,
    Register,
    Login,
}

impl Operation {
    /// The operations a mix may name, in report order.
    pub const MIXABLE: [Operation; 4] = [
        Operation::Browse,
        Operation::ViewCart,
        Operation::AddToCart,
        Operation::Checkout,
    ];
    /// The once-per-user steps, in the order they happen.
    pub const SETUP: [Operation; 2] = [Operation::Register, Operation::Login];

    pub const fn name(self) -> &'static str {
        match self {
            Operation::Browse => "browse",
            Operation::ViewCart => "view_cart",
            Operation::AddToCart => "add_to_cart",
            Operation::Checkout => "checkout",
            Operation::Register => "register",
            Operation::Login => "login",
        }
    }

    pub const fn is_setup(self) -> bool {
        matches!(self, Operation::Register | Operation::Login)
    }

    fn from_name(name: &str) -> Option<Operation> {
        Operation::MIXABLE
            .into_iter()
            .chain(Operation::SETUP)
            .find(|op| op.name() == name)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Operation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Large enough for any sensible ratio, small enough that the total never overflows.
pub const MAX_WEIGHT: u32 = 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MixError {
    #[error("the mix is empty; write it as name=weight pairs, e.g. browse=10,checkout=1")]
    Empty,
    #[error("mix entry {entry:?} is not name=weight; write it like browse=10")]
    Malformed { entry: String },
    #[error(
        "unknown operation {name:?} in the mix; choose from browse, view_cart, add_to_cart, checkout"
    )]
    UnknownOperation { name: String },
    #[error("{name} runs once per virtual user before the mix starts; leave it out of the mix")]
    SetupOperation { name: &'static str },
    #[error("weight {weight:?} of {name} is not a whole number from 0 to {MAX_WEIGHT}")]
    BadWeight { name: &'static str, weight: String },
    #[error("{name} appears more than once in the mix; give each operation one weight")]
    Duplicate { name: &'static str },
    #[error("the mix weights add up to zero; give at least one operation a positive weight")]
    ZeroTotal,
}

/// A checked mix: each mixable operation has a weight (0 when left out) and the total is positive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix {
    weights: [u32; 4],
}

impl Default for Mix {
    /// The realistic shop mix from the product brief: browse 10, view cart 3, add 2, checkout 1.
    fn default() -> Self {
        Mix {
            weights: [10, 3, 2, 1],
        }
    }
}

impl Mix {
    pub fn parse(text: &str) -> Result<Mix, MixError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(MixError::Empty);
        }
        let mut weights: [Option<u32>; 4] = [None; 4];
        for entry in text.split(',').map(str::trim) {
            let (name, weight) = entry.split_once('=').ok_or_else(|| MixError::Malformed {
                entry: entry.to_string(),
            })?;
            let name = name.trim();
            let op = Operation::from_name(name).ok_or_else(|| MixError::UnknownOperation {
                name: name.to_string(),
            })?;
            if op.is_setup() {
                return Err(MixError::SetupOperation { name: op.name() });
            }
            let weight = weight
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|w| *w <= MAX_WEIGHT)
                .ok_or_else(|| MixError::BadWeight {
                    name: op.name(),
                    weight: weight.trim().to_string(),
                })?;
            let slot = &mut weights[Self::slot(op)];
            if slot.replace(weight).is_some() {
                return Err(MixError::Duplicate { name: op.name() });
            }
        }
        let mix = Mix {
            weights: weights.map(|w| w.unwrap_or(0)),
        };
        if mix.total() == 0 {
            return Err(MixError::ZeroTotal);
        }
        Ok(mix)
    }

    fn slot(op: Operation) -> usize {
        match op {
            Operation::Browse => 0,
            Operation::ViewCart => 1,
            Operation::AddToCart => 2,
            // Setup operations never reach a slot: parse refuses them and `weight` answers 0.
            Operation::Checkout | Operation::Register | Operation::Login => 3,
        }
    }

    pub fn weight(&self, op: Operation) -> u32 {
        if op.is_setup() {
            0
        } else {
            self.weights[Self::slot(op)]
        }
    }

    pub fn total(&self) -> u64 {
        self.weights.iter().map(|w| u64::from(*w)).sum()
    }

    /// The expected fraction of all mix operations that are `op`.
    pub fn share(&self, op: Operation) -> f64 {
        f64::from(self.weight(op)) / self.total() as f64
    }

    /// Operations with a positive weight, in report order.
    pub fn entries(&self) -> impl Iterator<Item = (Operation, u32)> + '_ {
        Operation::MIXABLE
            .into_iter()
            .map(|op| (op, self.weight(op)))
            .filter(|(_, w)| *w > 0)
    }

    pub fn pick<R: Rng + ?Sized>(&self, rng: &mut R) -> Operation {
        let mut ticket = rng.random_range(0..self.total());
        for (op, weight) in self.entries() {
            let weight = u64::from(weight);
            if ticket < weight {
                return op;
            }
            ticket -= weight;
        }
        // Unreachable while the total is the sum of the entries; the last entry is a safe answer.
        self.entries()
            .last()
            .map_or(Operation::Browse, |(op, _)| op)
    }
}

impl FromStr for Mix {
    type Err = MixError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mix::parse(s)
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (op, weight) in self.entries() {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{op}={weight}")?;
        }
        Ok(())
    }
}

impl Serialize for Mix {
    /// As an object `{"browse": 10, ...}` so a JSON reader needs no parser of its own.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        for (op, weight) in self.entries() {
            map.serialize_entry(op.name(), &weight)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn default_mix_is_the_brief_ratio() {
        let mix = Mix::default();
        assert_eq!(
            mix.to_string(),
            "browse=10,view_cart=3,add_to_cart=2,checkout=1"
        );
        assert_eq!(
            Mix::parse("browse=10,view_cart=3,add_to_cart=2,checkout=1"),
            Ok(mix)
        );
    }

    #[test]
    fn left_out_operations_weigh_zero_and_spaces_are_allowed() {
        let mix = Mix::parse(" browse = 4 , checkout=1 ").unwrap();
        assert_eq!(mix.weight(Operation::Browse), 4);
        assert_eq!(mix.weight(Operation::ViewCart), 0);
        assert_eq!(mix.total(), 5);
        assert_eq!(mix.to_string(), "browse=4,checkout=1");
    }

    #[test]
    fn unknown_operation_is_named_in_the_error() {
        let err = Mix::parse("browse=1,dance=2").unwrap_err();
        assert_eq!(
            err,
            MixError::UnknownOperation {
                name: "dance".into()
            }
        );
        assert!(err.to_string().contains("dance"));
        assert!(err.to_string().contains("view_cart"));
    }

    #[test]
    fn setup_steps_cannot_be_mixed() {
        assert_eq!(
            Mix::parse("login=1"),
            Err(MixError::SetupOperation { name: "login" })
        );
    }

    #[test]
    fn zero_total_is_refused() {
        let err = Mix::parse("browse=0,checkout=0").unwrap_err();
        assert_eq!(err, MixError::ZeroTotal);
        assert!(err.to_string().contains("positive weight"));
    }

    #[test]
    fn bad_numbers_are_refused_with_the_value() {
        for bad in [
            "browse=ten",
            "browse=-1",
            "browse=1.5",
            "browse=",
            "browse=1000001",
        ] {
            let err = Mix::parse(bad).unwrap_err();
            assert!(
                matches!(err, MixError::BadWeight { name: "browse", .. }),
                "{bad}: {err}"
            );
        }
        assert!(
            Mix::parse("browse=ten")
                .unwrap_err()
                .to_string()
                .contains("\"ten\"")
        );
    }

    #[test]
    fn malformed_empty_and_duplicate_entries_are_refused() {
        assert_eq!(Mix::parse(""), Err(MixError::Empty));
        assert_eq!(
            Mix::parse("browse"),
            Err(MixError::Malformed {
                entry: "browse".into()
            })
        );
        assert!(matches!(
            Mix::parse("browse=1,,checkout=1"),
            Err(MixError::Malformed { .. })
        ));
        assert_eq!(
            Mix::parse("browse=1,browse=2"),
            Err(MixError::Duplicate { name: "browse" })
        );
    }

    #[test]
    fn picks_follow_the_weights_over_many_draws() {
        let mix = Mix::default();
        let mut rng = StdRng::seed_from_u64(42);
        let draws = 160_000;
        let mut counts = std::collections::HashMap::new();
        for _ in 0..draws {
            *counts.entry(mix.pick(&mut rng)).or_insert(0u32) += 1;
        }
        for op in Operation::MIXABLE {
            let seen = f64::from(counts[&op]) / f64::from(draws);
            let expected = mix.share(op);
            assert!(
                (seen - expected).abs() < 0.01,
                "{op}: saw {seen:.4}, expected {expected:.4}"
            );
        }
    }

    #[test]
    fn zero_weight_operations_are_never_picked() {
        let mix = Mix::parse("browse=1,view_cart=0").unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        assert!((0..1000).all(|_| mix.pick(&mut rng) == Operation::Browse));
    }

    #[test]
    fn the_same_seed_gives_the_same_sequence() {
        let mix = Mix::default();
        let draw = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..50).map(|_| mix.pick(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draw(9), draw(9));
        assert_ne!(draw(9), draw(10));
    }

    #[test]
    fn serializes_as_an_object_of_weights() {
        let json = serde_json::to_value(Mix::parse("browse=2,checkout=1").unwrap()).unwrap();
        assert_eq!(json, serde_json::json!({"browse": 2, "checkout": 1}));
    }
}
