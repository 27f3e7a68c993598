//! The rollout table `kubectl storefront rollout status` prints, from a platform as stored:
//! one row per tracked service (phase, step of steps, weights read back, versions, the last
//! analysis) and, under it, the steps with the current one in brackets and the message.

use std::fmt::Write as _;

use storefront_operator::build::Component;
use storefront_operator::build::validate::{CanarySteps, service_spec};
use storefront_operator::crd::{
    AnalysisStatus, EcommercePlatform, Percent, RolloutPhase, RolloutStatus, RolloutStrategy,
    ServiceSpec,
};

/// A service's spec by name, as the platform has it.
fn spec_of<'a>(platform: &'a EcommercePlatform, name: &str) -> Option<&'a ServiceSpec> {
    let component = Component::SERVICES.into_iter().find(|c| c.name() == name)?;
    service_spec(platform, component)
}

/// The rollout strategy the spec gives `service`; `None` when no service has that name.
pub fn strategy(platform: &EcommercePlatform, service: &str) -> Option<RolloutStrategy> {
    Component::SERVICES
        .into_iter()
        .find(|c| c.name() == service)?;
    Some(
        spec_of(platform, service)
            .and_then(|s| s.rollout.as_ref())
            .map_or_else(Default::default, |r| r.strategy),
    )
}

/// How the step line names each Canary step the spec gives `service` (the operator's default
/// when it names none): `mirror 40%` for the mirror step, then the weights.
fn steps(platform: &EcommercePlatform, service: &str) -> Vec<String> {
    let rollout = spec_of(platform, service).and_then(|s| s.rollout.as_ref());
    if rollout.is_some_and(|r| r.strategy == RolloutStrategy::BlueGreen) {
        return vec!["preview".to_owned(), "switch".to_owned()];
    }
    let given = rollout.map(|r| r.steps.clone()).unwrap_or_default();
    let weights = if given.is_empty() {
        CanarySteps::default().as_slice().to_vec()
    } else {
        given
    };
    let mirror = rollout
        .and_then(|r| r.mirror)
        .filter(|m| *m > Percent::ZERO);
    mirror
        .map(|m| format!("mirror {m}%"))
        .into_iter()
        .chain(weights.iter().map(Percent::to_string))
        .collect()
}

fn analysis(a: Option<&AnalysisStatus>) -> String {
    let Some(a) = a else {
        return "-".to_owned();
    };
    let mut out = format!("{:?}", a.result);
    if let Some(r) = a.requests {
        let _ = write!(out, " {r} req");
    }
    if let Some(s) = a.success_rate {
        let _ = write!(out, " {s}%");
    }
    if let Some(p) = a.p99_latency_ms {
        let _ = write!(out, " p99 {p}ms");
    }
    for (name, value) in &a.metrics {
        let _ = write!(out, " {name}={value}");
    }
    out
}

fn weight(w: Option<Percent>) -> String {
    w.map_or_else(|| "-".to_owned(), |w| format!("{w}%"))
}

/// The step line: `steps: 10 [25] 50`, the current step in brackets.
fn step_line(platform: &EcommercePlatform, service: &str, s: &RolloutStatus) -> Option<String> {
    s.steps?;
    let current = match s.phase {
        RolloutPhase::Progressing => usize::try_from(s.step.unwrap_or(0)).ok(),
        _ => None,
    };
    let parts: Vec<String> = steps(platform, service)
        .iter()
        .enumerate()
        .map(|(i, w)| {
            if current == Some(i + 1) {
                format!("[{w}]")
            } else {
                w.to_string()
            }
        })
        .collect();
    Some(format!("steps: {}", parts.join(" ")))
}

/// The table of `platform`'s rollouts, `only` one service if given.
pub fn render(platform: &EcommercePlatform, only: Option<&str>) -> String {
    let empty = Default::default();
    let rollouts = platform.status.as_ref().map_or(&empty, |s| &s.rollouts);
    let header = [
        "SERVICE",
        "PHASE",
        "STEP",
        "CANARY",
        "STABLE",
        "VERSIONS",
        "LAST ANALYSIS",
    ];
    let mut rows: Vec<([String; 7], Vec<String>)> = Vec::new();
    for (service, s) in rollouts
        .iter()
        .filter(|(n, _)| only.is_none_or(|o| o == n.as_str()))
    {
        let mut phase = format!("{:?}", s.phase);
        if s.paused == Some(true) {
            phase.push_str(" (paused)");
        }
        let step = match (s.step, s.steps) {
            (Some(step), Some(steps)) => format!("{step}/{steps}"),
            (Some(step), None) => step.to_string(),
            _ => "-".to_owned(),
        };
        let versions = format!(
            "{} -> {}",
            s.stable.as_deref().unwrap_or("?"),
            s.canary.as_deref().unwrap_or("?")
        );
        let mut notes = Vec::new();
        notes.extend(step_line(platform, service, s));
        notes.extend(s.message.clone());
        rows.push((
            [
                service.clone(),
                phase,
                step,
                match s.mirror {
                    Some(m) => format!("{} (mirror {m}%)", weight(s.canary_weight)),
                    None => weight(s.canary_weight),
                },
                weight(s.stable_weight),
                versions,
                analysis(s.last_analysis.as_ref()),
            ],
            notes,
        ));
    }
    if rows.is_empty() {
        return match only {
            Some(service) => format!("no rollout of {service} yet\n"),
            None => "no rollouts yet\n".to_owned(),
        };
    }
    let mut widths = header.map(str::len);
    for (cells, _) in &rows {
        for (w, c) in widths.iter_mut().zip(cells) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(c);
            } else {
                let _ = write!(out, "{c:<w$}  ");
            }
        }
        out.push('\n');
        out
    };
    let mut out = line(&header.map(str::to_owned));
    for (cells, notes) in rows {
        out.push_str(&line(&cells));
        for note in notes {
            let _ = writeln!(out, "    {note}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn platform(status: serde_json::Value) -> EcommercePlatform {
        serde_json::from_value(json!({
            "apiVersion": "storefront.dev/v1alpha1",
            "kind": "EcommercePlatform",
            "metadata": {"name": "shop", "namespace": "shop"},
            "spec": {"version": "0.1.0", "services": {
                "catalog": {"rollout": {"strategy": "Canary"}},
                "orders": {"rollout": {"strategy": "Canary", "steps": [20, 50]}},
                "web": {"rollout": {"strategy": "Canary", "steps": [20, 50], "mirror": 40}},
                "users": {"rollout": {"strategy": "BlueGreen"}},
            }},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn each_rollout_is_a_row_with_its_steps_and_message() {
        let p = platform(json!({"rollouts": {
            "catalog": {"phase": "Progressing", "step": 2, "steps": 3, "canaryWeight": 25,
                        "stableWeight": 75, "stable": "0.1.0", "canary": "0.2.0", "paused": true,
                        "message": "paused at step 2 (25% on 0.2.0); resume to continue",
                        "lastAnalysis": {"time": "2026-12-01T00:00:00Z", "result": "Passed",
                                         "requests": 600.0, "successRate": 99.5,
                                         "p99LatencyMs": 120.0, "metrics": {"paid-ratio": 0.98}}},
            "orders": {"phase": "RolledBack", "step": 1, "steps": 2, "canaryWeight": 0,
                       "stableWeight": 100, "stable": "0.1.0", "canary": "0.3.0"},
        }}));
        let table = render(&p, None);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("SERVICE  PHASE"), "{table}");
        assert!(
            lines[1].starts_with("catalog  Progressing (paused)  2/3   25%     75%")
                && lines[1].ends_with("Passed 600 req 99.5% p99 120ms paid-ratio=0.98"),
            "{table}"
        );
        assert_eq!(lines[2], "    steps: 10 [25] 50");
        assert_eq!(
            lines[3],
            "    paused at step 2 (25% on 0.2.0); resume to continue"
        );
        assert!(lines[4].starts_with("orders   RolledBack"), "{table}");
        assert_eq!(
            lines[5], "    steps: 20 50",
            "no current step once finished"
        );
        let one = render(&p, Some("orders"));
        assert_eq!(one.lines().count(), 3, "{one}");
    }

    #[test]
    fn the_mirror_step_is_the_first_step_and_shows_its_copy() {
        let p = platform(json!({"rollouts": {
            "web": {"phase": "Progressing", "step": 1, "steps": 3, "canaryWeight": 0,
                    "stableWeight": 100, "mirror": 40, "stable": "0.1.0", "canary": "0.2.0"},
        }}));
        let table = render(&p, None);
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[1].starts_with("web      Progressing  1/3   0% (mirror 40%)  100%"),
            "{table}"
        );
        assert_eq!(lines[2], "    steps: [mirror 40%] 20 50");
    }

    #[test]
    fn a_blue_green_rollout_has_a_preview_and_a_switch() {
        let p = platform(json!({"rollouts": {
            "users": {"phase": "Progressing", "step": 1, "steps": 2, "canaryWeight": 0,
                     "stableWeight": 100, "stable": "0.1.0", "canary": "0.2.0"},
        }}));
        let table = render(&p, None);
        assert_eq!(
            table.lines().nth(2),
            Some("    steps: [preview] switch"),
            "{table}"
        );
    }

    #[test]
    fn no_rollout_says_so() {
        let p = platform(json!({}));
        assert_eq!(render(&p, None), "no rollouts yet\n");
        assert_eq!(render(&p, Some("cart")), "no rollout of cart yet\n");
        assert_eq!(strategy(&p, "catalog"), Some(RolloutStrategy::Canary));
        assert_eq!(strategy(&p, "cart"), Some(RolloutStrategy::RollingUpdate));
        assert_eq!(strategy(&p, "basket"), None);
    }
}
