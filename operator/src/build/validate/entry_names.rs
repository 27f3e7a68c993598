//! The names of list entries that status, Events and logs show (`rollout.analysis.metrics`,
//! `rollout.webhooks`): short, lowercase, unique in their list.

use std::collections::BTreeSet;

/// Check `name` of the entry described by `at`, and that `seen` has not had it.
pub fn check_entry_name<'a>(
    at: &str,
    name: &'a str,
    seen: &mut BTreeSet<&'a str>,
) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        return Err(format!(
            "{at}: name must be 1-63 lowercase letters, digits or '-'"
        ));
    }
    if !seen.insert(name) {
        return Err(format!("{at}: the name is used twice"));
    }
    Ok(())
}
