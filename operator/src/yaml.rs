//! YAML output that means the same to YAML 1.1 readers (kubectl's go-yaml, PyYAML) and YAML 1.2
//! readers: any string a 1.1 reader could take for a bool, null or number is quoted.
//!
//! Why not serde_norway's emitter: it follows YAML 1.2 and writes `yes` unquoted, which
//! `kubectl apply` reads as `true` (found by schema validation of the rendered redis args).

use std::borrow::Cow;
use std::fmt::Write;

use serde_json::Value;

/// One YAML document (without the `---` separator) for a JSON value.
pub fn to_document(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0, false),
        Value::Array(items) if !items.is_empty() => write_seq(&mut out, items, 0),
        scalar => {
            out.push_str(&scalar_text(scalar, 0));
            out.push('\n');
        }
    }
    out
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// `inline_first`: the first key goes on the current line (after a sequence dash).
fn write_map(
    out: &mut String,
    map: &serde_json::Map<String, Value>,
    indent: usize,
    inline_first: bool,
) {
    for (i, (key, value)) in map.iter().enumerate() {
        if !(inline_first && i == 0) {
            pad(out, indent);
        }
        out.push_str(&string_text(key, indent));
        out.push(':');
        write_child(out, value, indent, true);
    }
}

fn write_seq(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        pad(out, indent);
        out.push('-');
        match item {
            Value::Object(map) if !map.is_empty() => {
                // First key on the dash line, the rest aligned under it.
                out.push(' ');
                write_map(out, map, indent + 2, true);
            }
            other => write_child(out, other, indent, false),
        }
    }
}

fn write_child(out: &mut String, value: &Value, indent: usize, in_map: bool) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            write_map(out, map, indent + 2, false);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            // Sequences inside a map are indented like kubectl prints them.
            write_seq(out, items, if in_map { indent } else { indent + 2 });
        }
        scalar => {
            out.push(' ');
            out.push_str(&scalar_text(scalar, indent + 2));
            out.push('\n');
        }
    }
}

fn scalar_text(value: &Value, indent: usize) -> Cow<'_, str> {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => if *b { "true" } else { "false" }.into(),
        Value::Number(n) => n.to_string().into(),
        Value::String(s) => string_text(s, indent),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

fn string_text(s: &str, indent: usize) -> Cow<'_, str> {
    if is_plain_safe(s) {
        return s.into();
    }
    if is_block_safe(s) {
        let mut out = String::from("|");
        let pad = " ".repeat(indent.max(2));
        for line in s.trim_end_matches('\n').split('\n') {
            out.push('\n');
            if !line.is_empty() {
                let _ = write!(out, "{pad}{line}");
            }
        }
        return out.into();
    }
    // A JSON string is a valid YAML double-quoted scalar.
    serde_json::to_string(s)
        .unwrap_or_else(|_| "\"\"".to_owned())
        .into()
}

/// Strings written without quotes: simple words that no YAML version reads as anything else.
fn is_plain_safe(s: &str) -> bool {
    const AMBIGUOUS: [&str; 22] = [
        "y", "yes", "n", "no", "true", "false", "on", "off", "null", "~", "", "=", "<<", ".nan",
        ".inf", "-.inf", "+.inf", ".NaN", ".Inf", "-.Inf", "NaN", "inf",
    ];
    if s.len() <= 5 && AMBIGUOUS.iter().any(|a| a.eq_ignore_ascii_case(s)) {
        return false;
    }
    let first = s.chars().next().unwrap_or(' ');
    let starts_ok = first.is_ascii_alphabetic() || first == '/' || first == '_';
    let chars_ok = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '@' | '%'));
    // Things like 1e3, 0x1F, 0o17 or 12:30 could be numbers or sexagesimals in YAML 1.1.
    let numeric_like = first.is_ascii_digit()
        || s.parse::<f64>().is_ok()
        || s.get(..2)
            .is_some_and(|p| p.eq_ignore_ascii_case("0x") || p.eq_ignore_ascii_case("0o"));
    starts_ok && chars_ok && !numeric_like
}

/// Multi-line text that a `|` block reproduces exactly: one trailing newline, no tabs or
/// carriage returns, no leading space on the first line, no trailing spaces.
fn is_block_safe(s: &str) -> bool {
    s.ends_with('\n')
        && !s.ends_with("\n\n")
        && s.trim_end_matches('\n').contains('\n')
        && !s.starts_with(' ')
        && !s.contains(['\t', '\r'])
        && !s.lines().any(|l| l.ends_with(' '))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(value: Value) {
        let text = to_document(&value);
        let back: Value = serde_norway::from_str(&text).unwrap();
        assert_eq!(back, value, "YAML was:\n{text}");
    }

    #[test]
    fn yaml_1_1_booleans_and_numbers_stay_strings() {
        let text =
            to_document(&json!({"args": ["--appendonly", "yes", "on", "60", "1e3", "0x1f"]}));
        assert!(text.contains("- \"yes\""), "{text}");
        assert!(text.contains("- \"on\""), "{text}");
        assert!(text.contains("- \"60\""), "{text}");
        round_trip(json!({"args": ["--appendonly", "yes", "on", "60", "1e3", "0x1f", "No"]}));
    }

    #[test]
    fn nested_maps_sequences_and_scripts_round_trip() {
        round_trip(json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "x", "labels": {"app.kubernetes.io/name": "storefront"}},
            "data": {"script.sh": "#!/bin/sh\nset -eu\n\necho 'hi' \"$X\"\n", "URL": "http://a:8080", "empty": ""},
            "list": [{"a": 1, "b": [1, 2, {"c": null}]}, [], {}, "x: y", true, 1.5],
            "deep": [[1, 2], [3]],
        }));
    }
}
