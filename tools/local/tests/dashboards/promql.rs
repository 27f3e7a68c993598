//! The metric names a PromQL expression reads: every identifier that is not a function, an
//! aggregation, a keyword or a label, with label matchers, ranges and strings skipped. Enough
//! PromQL for the dashboards and rules of this repository, not a full parser.

use std::collections::BTreeSet;

/// Words that are never metric names when they stand alone.
const KEYWORDS: [&str; 12] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "atan2",
];

/// Keywords followed by a parenthesised list of label names.
const LABEL_LISTS: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// The index just past the string literal that opens at `start`.
fn skip_string(chars: &[char], start: usize) -> usize {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() && chars[i] != quote {
        if chars[i] == '\\' && quote != '`' {
            i += 1;
        }
        i += 1;
    }
    i + 1
}

/// The index just past the bracket that closes the one at `start`, strings skipped.
fn skip_group(chars: &[char], start: usize, close: char) -> usize {
    let mut i = start + 1;
    while i < chars.len() && chars[i] != close {
        if matches!(chars[i], '"' | '\'' | '`') {
            i = skip_string(chars, i);
        } else {
            i += 1;
        }
    }
    i + 1
}

fn next_non_space(chars: &[char], mut i: usize) -> Option<(usize, char)> {
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    chars.get(i).map(|c| (i, *c))
}

/// The word that starts at the next non-space character after `i`, if any.
fn next_word(chars: &[char], i: usize) -> String {
    match next_non_space(chars, i) {
        Some((at, c)) if is_name_start(c) => chars[at..]
            .iter()
            .take_while(|c| is_name_char(**c))
            .collect(),
        _ => String::new(),
    }
}

pub fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if matches!(c, '"' | '\'' | '`') {
            i = skip_string(&chars, i);
        } else if c == '{' {
            i = skip_group(&chars, i, '}');
        } else if c == '[' {
            i = skip_group(&chars, i, ']');
        } else if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '$' || c.is_ascii_digit() || c == '.' {
            // A dashboard variable, a number or a duration.
            i += 1;
            while i < chars.len() && (is_name_char(chars[i]) || chars[i] == '.') {
                i += 1;
            }
        } else if is_name_start(c) {
            let start = i;
            while i < chars.len() && is_name_char(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = next_non_space(&chars, i);
            if LABEL_LISTS.contains(&word.as_str()) {
                if let Some((at, '(')) = next {
                    i = skip_group(&chars, at, ')');
                }
            } else if KEYWORDS.contains(&word.as_str())
                || matches!(next, Some((_, '(')))
                || matches!(next_word(&chars, i).as_str(), "by" | "without")
                || word.eq_ignore_ascii_case("inf")
                || word.eq_ignore_ascii_case("nan")
            {
                // A keyword, a function or an aggregation (`sum by (x) (...)` included).
            } else {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::metric_names;

    fn names(expr: &str) -> Vec<String> {
        metric_names(expr).into_iter().collect()
    }

    #[test]
    fn functions_labels_ranges_and_grouping_lists_are_not_metric_names() {
        assert_eq!(
            names(
                r#"histogram_quantile(0.99, sum by (service, le) (rate(http_request_duration_seconds_bucket{route!~"/a|{b}",x="y"}[$__rate_interval])))"#
            ),
            ["http_request_duration_seconds_bucket"]
        );
    }

    #[test]
    fn both_sides_of_binary_operators_and_recorded_names_are_found() {
        assert_eq!(
            names(
                "ns:errors:ratio_rate1h > (14.4 * 0.005) and on (namespace) up offset 5m or vector(0) unless foo_total"
            ),
            ["foo_total", "ns:errors:ratio_rate1h", "up"]
        );
    }
}
