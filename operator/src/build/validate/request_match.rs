//! `rollout.match`, checked: the requests a canary route takes whatever the weights.
//!
//! Invariants: no entry is empty (an empty Istio match takes every request, which would send all
//! traffic to the canary); every header name is a lowercase HTTP token; each header is compared
//! one way; regexes compile; a cookie becomes a regex on the `cookie` header that matches the
//! pair anywhere in it, its name and value escaped.

use crate::crd::{CookieMatchSpec, RequestMatchSpec, StringMatchSpec};

/// How one header's value is compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueMatch {
    Exact(String),
    Prefix(String),
    /// RE2, the whole value.
    Regex(String),
}

/// One checked entry: every header condition must hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestMatch {
    /// By header name, sorted, each name once (a cookie is a condition on `cookie`).
    pub headers: Vec<(String, ValueMatch)>,
}

/// The header Istio sees cookies in.
const COOKIE: &str = "cookie";

/// Longest regex accepted; Envoy's RE2 refuses programs far past this anyway.
const MAX_REGEX: usize = 1024;

fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn check_regex(at: &str, regex: &str) -> Result<(), String> {
    if regex.len() > MAX_REGEX {
        return Err(format!("{at}: the regex is longer than {MAX_REGEX} bytes"));
    }
    regex::Regex::new(regex)
        .map(|_| ())
        .map_err(|e| format!("{at}: not a valid regex: {}", one_line(&e.to_string())))
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn value_match(at: &str, spec: &StringMatchSpec) -> Result<ValueMatch, String> {
    match (&spec.exact, &spec.prefix, &spec.regex) {
        (Some(v), None, None) => Ok(ValueMatch::Exact(v.clone())),
        (None, Some(v), None) if !v.is_empty() => Ok(ValueMatch::Prefix(v.clone())),
        (None, None, Some(v)) if !v.is_empty() => {
            check_regex(at, v)?;
            Ok(ValueMatch::Regex(v.clone()))
        }
        (None, None, None) => Err(format!("{at}: set one of exact, prefix or regex")),
        (None, Some(_), None) | (None, None, Some(_)) => {
            Err(format!("{at}: an empty prefix or regex matches anything"))
        }
        _ => Err(format!("{at}: set only one of exact, prefix or regex")),
    }
}

fn cookie_match(at: &str, cookie: &CookieMatchSpec) -> Result<ValueMatch, String> {
    if !is_token(&cookie.name) {
        return Err(format!(
            "{at}.name: {:?} is not a cookie name (letters, digits and !#$%&'*+-.^_`|~)",
            cookie.name
        ));
    }
    let octet = |c: char| c.is_ascii_graphic() && !matches!(c, '"' | ',' | ';' | '\\');
    if !cookie.value.chars().all(octet) {
        return Err(format!(
            "{at}.value: a cookie value has no spaces, quotes, commas, semicolons or backslashes"
        ));
    }
    // The pair as a whole item of the header: at its start or after "; ", up to ";" or the end.
    Ok(ValueMatch::Regex(format!(
        "^(.*?;\\s*)?{}={}(;.*)?$",
        regex::escape(&cookie.name),
        regex::escape(&cookie.value)
    )))
}

fn entry(at: &str, spec: &RequestMatchSpec) -> Result<RequestMatch, String> {
    let mut headers = Vec::new();
    for (name, value) in &spec.headers {
        let here = format!("{at}.headers.{name}");
        if !is_token(name) || name.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(format!(
                "{here}: a header name is lowercase letters, digits and !#$%&'*+-.^_`|~"
            ));
        }
        headers.push((name.clone(), value_match(&here, value)?));
    }
    if let Some(cookie) = &spec.cookie {
        if spec.headers.contains_key(COOKIE) {
            return Err(format!(
                "{at}: give the cookie as `cookie` or as `headers.cookie`, not both"
            ));
        }
        headers.push((
            COOKIE.to_owned(),
            cookie_match(&format!("{at}.cookie"), cookie)?,
        ));
        headers.sort_by(|a, b| a.0.cmp(&b.0));
    }
    if headers.is_empty() {
        return Err(format!(
            "{at}: an entry needs a header or a cookie (an empty one would match every request)"
        ));
    }
    Ok(RequestMatch { headers })
}

/// Check `rollout.match`; the error names the entry, e.g. `match[1].headers.x-group: ...`.
pub fn request_matches(specs: &[RequestMatchSpec]) -> Result<Vec<RequestMatch>, String> {
    specs
        .iter()
        .enumerate()
        .map(|(i, spec)| entry(&format!("match[{i}]"), spec))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn header(name: &str, m: StringMatchSpec) -> RequestMatchSpec {
        RequestMatchSpec {
            headers: BTreeMap::from([(name.to_owned(), m)]),
            cookie: None,
        }
    }

    fn exact(v: &str) -> StringMatchSpec {
        StringMatchSpec {
            exact: Some(v.to_owned()),
            ..StringMatchSpec::default()
        }
    }

    fn regex(v: &str) -> StringMatchSpec {
        StringMatchSpec {
            regex: Some(v.to_owned()),
            ..StringMatchSpec::default()
        }
    }

    fn cookie(name: &str, value: &str) -> RequestMatchSpec {
        RequestMatchSpec {
            headers: BTreeMap::new(),
            cookie: Some(CookieMatchSpec {
                name: name.to_owned(),
                value: value.to_owned(),
            }),
        }
    }

    #[test]
    fn headers_and_cookies_become_header_conditions() {
        let checked = request_matches(&[
            header("x-group", exact("beta")),
            header("user-agent", regex(".*Firefox.*")),
            cookie("canary", "always"),
        ])
        .unwrap();
        assert_eq!(
            checked[0].headers,
            [("x-group".to_owned(), ValueMatch::Exact("beta".to_owned()))]
        );
        assert_eq!(
            checked[1].headers,
            [(
                "user-agent".to_owned(),
                ValueMatch::Regex(".*Firefox.*".to_owned())
            )]
        );
        assert_eq!(checked[2].headers[0].0, "cookie");
    }

    #[test]
    fn a_cookie_matches_its_pair_anywhere_in_the_header_and_nothing_else() {
        let checked = request_matches(&[cookie("ab.test", "b+1")]).unwrap();
        let ValueMatch::Regex(pattern) = &checked[0].headers[0].1 else {
            panic!("a cookie is a regex");
        };
        let re = regex::Regex::new(pattern).unwrap();
        for yes in [
            "ab.test=b+1",
            "session=x; ab.test=b+1",
            "ab.test=b+1; session=x",
            "a=1;ab.test=b+1;c=2",
        ] {
            assert!(re.is_match(yes), "{yes:?} should match");
        }
        for no in [
            "ab.test=b+12",
            "xab.test=b+1",
            "abxtest=b+1",
            "ab.test=bb1",
            "session=ab.test=b+1",
            "",
        ] {
            assert!(!re.is_match(no), "{no:?} should not match");
        }
    }

    #[test]
    fn entries_that_would_match_everything_or_nothing_sensible_are_refused() {
        let cases = [
            (
                RequestMatchSpec::default(),
                "match[0]: an entry needs a header or a cookie",
            ),
            (
                header("x-a", StringMatchSpec::default()),
                "match[0].headers.x-a: set one of exact, prefix or regex",
            ),
            (
                header(
                    "x-a",
                    StringMatchSpec {
                        exact: Some("a".into()),
                        prefix: Some("b".into()),
                        regex: None,
                    },
                ),
                "match[0].headers.x-a: set only one",
            ),
            (
                header("x-a", regex("")),
                "match[0].headers.x-a: an empty prefix or regex matches anything",
            ),
            (
                header("x-a", regex("(unclosed")),
                "match[0].headers.x-a: not a valid regex",
            ),
            (
                header("X-Group", exact("a")),
                "match[0].headers.X-Group: a header name is lowercase",
            ),
            (
                header("x group", exact("a")),
                "match[0].headers.x group: a header name",
            ),
            (
                cookie("a;b", "1"),
                "match[0].cookie.name: \"a;b\" is not a cookie name",
            ),
            (
                cookie("a", "x y"),
                "match[0].cookie.value: a cookie value has no spaces",
            ),
        ];
        for (spec, expected) in cases {
            let error = request_matches(std::slice::from_ref(&spec)).unwrap_err();
            assert!(error.starts_with(expected), "{spec:?}: {error}");
        }
        let mut both = cookie("a", "1");
        both.headers.insert("cookie".to_owned(), exact("a=1"));
        let error = request_matches(&[both]).unwrap_err();
        assert!(error.contains("not both"), "{error}");
    }

    #[test]
    fn the_error_names_the_entry_it_is_about() {
        let error =
            request_matches(&[header("x-a", exact("1")), RequestMatchSpec::default()]).unwrap_err();
        assert!(error.starts_with("match[1]:"), "{error}");
    }
}
