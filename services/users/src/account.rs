//! Pure validation of account input: e-mail shape and normalisation, password length, names.
//! Nothing here touches the database.

use serde::Serialize;

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 128;
pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_EMAIL_CHARS: usize = 254;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
pub enum AccountError {
    #[error("email must look like name@example.com (at most 254 characters)")]
    BadEmail,
    #[error("password must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters long")]
    BadPassword,
    #[error("name must be 1 to {MAX_NAME_CHARS} characters long and printable")]
    BadName,
}

/// Validated registration input. The e-mail is trimmed and lower-cased, so one mailbox is one
/// account whatever its spelling.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub email: String,
    pub password: String,
    pub name: String,
}

impl NewAccount {
    pub fn validate(email: &str, password: &str, name: &str) -> Result<Self, AccountError> {
        Ok(Self {
            email: normalise_email(email)?,
            password: check_password(password)?.to_string(),
            name: check_name(name)?,
        })
    }
}

pub fn normalise_email(raw: &str) -> Result<String, AccountError> {
    let email = raw.trim().to_lowercase();
    let valid = email.chars().count() <= MAX_EMAIL_CHARS
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
    if valid {
        Ok(email)
    } else {
        Err(AccountError::BadEmail)
    }
}

pub fn check_password(password: &str) -> Result<&str, AccountError> {
    let n = password.chars().count();
    if (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n) {
        Ok(password)
    } else {
        Err(AccountError::BadPassword)
    }
}

pub fn check_name(raw: &str) -> Result<String, AccountError> {
    let name = raw.trim();
    let n = name.chars().count();
    if (1..=MAX_NAME_CHARS).contains(&n) && !name.chars().any(char::is_control) {
        Ok(name.to_string())
    } else {
        Err(AccountError::BadName)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_and_lower_cased() {
        assert_eq!(
            normalise_email("  Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "a b@example.com",
            "a@b@c.com",
            "ada@.com",
        ] {
            assert_eq!(normalise_email(bad), Err(AccountError::BadEmail), "{bad:?}");
        }
    }

    #[test]
    fn password_length_is_bounded_in_characters() {
        assert!(check_password("1234567").is_err());
        assert!(check_password("12345678").is_ok());
        assert!(check_password(&"é".repeat(128)).is_ok());
        assert!(check_password(&"x".repeat(129)).is_err());
    }

    #[test]
    fn blank_or_control_names_are_refused() {
        assert!(check_name("   ").is_err());
        assert!(check_name("Ada\u{7}").is_err());
        assert_eq!(check_name("  Ada Lovelace ").unwrap(), "Ada Lovelace");
    }
}
