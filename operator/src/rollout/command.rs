//! Rollout commands, given by annotation on the `EcommercePlatform`:
//! `rollout.storefront.dev/<service>: pause | resume | promote | abort`.
//!
//! `pause` stays until it is changed: the operator reads it on every pass. The others are
//! one-shot: once the machine acted on one (or found nothing to act on), the operator removes
//! the annotation, only if it still holds the value acted on, so a newer command is kept.

use std::collections::BTreeMap;
use std::fmt;

/// The annotation prefix; the part after the slash names the service.
pub const COMMAND_PREFIX: &str = "rollout.storefront.dev/";

/// What a person asked of one service's rollout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Hold the rollout where it is: no analysis, no step, its deadlines wait.
    Pause,
    /// Continue a paused rollout; its step and deadlines count from now.
    Resume,
    /// Skip the remaining steps and analysis: the canary becomes stable now.
    Promote,
    /// Roll back now: traffic returns to stable and the version is not retried.
    Abort,
}

impl Command {
    /// The command an annotation value names (trimmed, any case).
    pub fn parse(value: &str) -> Result<Self, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "pause" => Ok(Self::Pause),
            "resume" => Ok(Self::Resume),
            "promote" => Ok(Self::Promote),
            "abort" => Ok(Self::Abort),
            _ => Err(format!(
                "{value:?} is not a rollout command (pause, resume, promote or abort)"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Promote => "promote",
            Self::Abort => "abort",
        }
    }

    /// Whether the operator removes the annotation once the command was handled.
    pub fn is_one_shot(self) -> bool {
        self != Self::Pause
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The annotation that carries commands for `service`.
pub fn annotation_key(service: &str) -> String {
    format!("{COMMAND_PREFIX}{service}")
}

/// One command annotation as found on the platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Given {
    /// The annotation's value as written (what a removal must still find).
    pub value: String,
    pub command: Result<Command, String>,
}

/// The command annotations among `annotations`, by service name.
pub fn commands(annotations: &BTreeMap<String, String>) -> BTreeMap<String, Given> {
    annotations
        .iter()
        .filter_map(|(key, value)| {
            let service = key.strip_prefix(COMMAND_PREFIX)?;
            Some((
                service.to_owned(),
                Given {
                    value: value.clone(),
                    command: Command::parse(value),
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_in_any_case_and_garbage_is_named() {
        assert_eq!(Command::parse(" Pause "), Ok(Command::Pause));
        assert_eq!(Command::parse("PROMOTE"), Ok(Command::Promote));
        assert_eq!(Command::parse("resume"), Ok(Command::Resume));
        assert_eq!(Command::parse("abort"), Ok(Command::Abort));
        let error = Command::parse("stop").unwrap_err();
        assert!(error.contains("\"stop\"") && error.contains("pause, resume"));
    }

    #[test]
    fn only_annotations_under_the_prefix_are_commands() {
        let annotations = BTreeMap::from([
            (
                "rollout.storefront.dev/catalog".to_owned(),
                "pause".to_owned(),
            ),
            (
                "rollout.storefront.dev/orders".to_owned(),
                "later".to_owned(),
            ),
            ("example.com/catalog".to_owned(), "abort".to_owned()),
        ]);
        let found = commands(&annotations);
        assert_eq!(found.len(), 2);
        assert_eq!(found["catalog"].command, Ok(Command::Pause));
        assert_eq!(found["orders"].value, "later");
        assert!(found["orders"].command.is_err());
        assert_eq!(annotation_key("catalog"), "rollout.storefront.dev/catalog");
    }

    #[test]
    fn pause_stays_and_the_others_are_one_shot() {
        assert!(!Command::Pause.is_one_shot());
        assert!(Command::Resume.is_one_shot());
        assert!(Command::Promote.is_one_shot());
        assert!(Command::Abort.is_one_shot());
    }
}
