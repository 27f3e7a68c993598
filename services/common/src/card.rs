//! Payment card input as clients send it, and its format checks (digits, length, Luhn, expiry,
//! CVC). Pure: orders checks a card before it reserves anything, payments before it charges. The
//! full number and the CVC are never logged (the `Debug` impl hides them).

use chrono::{Datelike, Utc};
use serde::Deserialize;

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CardInput {
    pub card_number: String,
    pub exp_month: u32,
    pub exp_year: u32,
    pub cvc: String,
}

impl std::fmt::Debug for CardInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardInput")
            .field("last4", &last4(&digits_only(&self.card_number)))
            .field("exp_month", &self.exp_month)
            .field("exp_year", &self.exp_year)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error("cardNumber must be 12 to 19 digits (spaces and dashes allowed)")]
    NumberFormat,
    #[error("cardNumber fails the Luhn check; check for a typo")]
    Luhn,
    #[error("expMonth must be 1 to 12")]
    Month,
    #[error("the card has expired (expMonth/expYear are in the past)")]
    Expired,
    #[error("expYear is too far in the future")]
    Year,
    #[error("cvc must be 3 or 4 digits")]
    Cvc,
}

/// A card that passed the checks: the number reduced to its digits.
#[derive(Clone)]
pub struct ValidCard {
    pub number: String,
    pub exp_month: u32,
    pub exp_year: u32,
    pub cvc: String,
}

impl ValidCard {
    pub fn last4(&self) -> String {
        last4(&self.number)
    }

    pub fn brand(&self) -> &'static str {
        let n = &self.number;
        let prefix = |len: usize| {
            n.get(..len)
                .and_then(|p| p.parse::<u32>().ok())
                .unwrap_or(0)
        };
        if n.starts_with('4') {
            "visa"
        } else if (51..=55).contains(&prefix(2)) || (2221..=2720).contains(&prefix(4)) {
            "mastercard"
        } else if matches!(prefix(2), 34 | 37) {
            "amex"
        } else {
            "unknown"
        }
    }
}

fn digits_only(raw: &str) -> String {
    raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect()
}

fn last4(digits: &str) -> String {
    let n = digits.len();
    digits
        .get(n.saturating_sub(4)..)
        .unwrap_or_default()
        .to_string()
}

pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, c) in digits.chars().rev().enumerate() {
        let Some(mut d) = c.to_digit(10) else {
            return false;
        };
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

impl CardInput {
    /// Checks the card against today's date (UTC); valid through the end of its expiry month.
    pub fn validate(&self) -> Result<ValidCard, CardError> {
        let today = Utc::now().date_naive();
        self.validate_at(today.year() as u32, today.month())
    }

    pub fn validate_at(&self, year: u32, month: u32) -> Result<ValidCard, CardError> {
        let number = digits_only(&self.card_number);
        if !(12..=19).contains(&number.len()) || !number.chars().all(|c| c.is_ascii_digit()) {
            return Err(CardError::NumberFormat);
        }
        if !luhn_valid(&number) {
            return Err(CardError::Luhn);
        }
        if !(1..=12).contains(&self.exp_month) {
            return Err(CardError::Month);
        }
        if (self.exp_year, self.exp_month) < (year, month) {
            return Err(CardError::Expired);
        }
        if self.exp_year > year + 25 {
            return Err(CardError::Year);
        }
        if !(3..=4).contains(&self.cvc.len()) || !self.cvc.chars().all(|c| c.is_ascii_digit()) {
            return Err(CardError::Cvc);
        }
        Ok(ValidCard {
            number,
            exp_month: self.exp_month,
            exp_year: self.exp_year,
            cvc: self.cvc.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(number: &str, month: u32, year: u32, cvc: &str) -> CardInput {
        CardInput {
            card_number: number.into(),
            exp_month: month,
            exp_year: year,
            cvc: cvc.into(),
        }
    }

    #[test]
    fn the_test_cards_are_valid_and_branded() {
        let ok = card("4242 4242 4242 4242", 12, 2030, "123")
            .validate_at(2026, 11)
            .unwrap();
        assert_eq!(ok.last4(), "4242");
        assert_eq!(ok.brand(), "visa");
        let mc = card("5555-5555-5555-4444", 1, 2027, "123")
            .validate_at(2026, 11)
            .unwrap();
        assert_eq!(mc.brand(), "mastercard");
        assert!(
            card("4000000000000002", 12, 2030, "1234")
                .validate_at(2026, 11)
                .is_ok()
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(
            card("4242", 12, 2030, "123").validate_at(2026, 11).err(),
            Some(CardError::NumberFormat)
        );
        assert_eq!(
            card("4242424242424241", 12, 2030, "123")
                .validate_at(2026, 11)
                .err(),
            Some(CardError::Luhn)
        );
        assert_eq!(
            card("4242424242424242", 13, 2030, "123")
                .validate_at(2026, 11)
                .err(),
            Some(CardError::Month)
        );
        assert_eq!(
            card("4242424242424242", 10, 2026, "123")
                .validate_at(2026, 11)
                .err(),
            Some(CardError::Expired)
        );
        assert_eq!(
            card("4242424242424242", 12, 2090, "123")
                .validate_at(2026, 11)
                .err(),
            Some(CardError::Year)
        );
        assert_eq!(
            card("4242424242424242", 12, 2030, "12a")
                .validate_at(2026, 11)
                .err(),
            Some(CardError::Cvc)
        );
    }

    #[test]
    fn a_card_is_valid_through_its_expiry_month() {
        assert!(
            card("4242424242424242", 11, 2026, "123")
                .validate_at(2026, 11)
                .is_ok()
        );
    }

    #[test]
    fn debug_output_hides_the_number_and_cvc() {
        let text = format!("{:?}", card("4242424242424242", 12, 2030, "987"));
        assert!(
            !text.contains("42424242") && !text.contains("987"),
            "{text}"
        );
    }
}
