//! Money as integer minor units plus an ISO 4217 currency code. Arithmetic never mixes
//! currencies and never overflows silently.

use serde::{Deserialize, Serialize};

/// A three-letter upper-case ISO 4217 code such as `USD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    pub const USD: Currency = Currency(*b"USD");

    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters are ever stored, see `TryFrom<&str>`.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl TryFrom<&str> for Currency {
    type Error = MoneyError;
    fn try_from(s: &str) -> Result<Self, MoneyError> {
        let bytes = s.as_bytes();
        if bytes.len() == 3 && bytes.iter().all(|b| b.is_ascii_uppercase()) {
            Ok(Currency([bytes[0], bytes[1], bytes[2]]))
        } else {
            Err(MoneyError::BadCurrency(s.to_string()))
        }
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(s: String) -> Result<Self, MoneyError> {
        Currency::try_from(s.as_str())
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.as_str().to_string()
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount of money: `amount` minor units (cents for USD) of `currency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub amount: i64,
    pub currency: Currency,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("currency {0:?} is not a three-letter upper-case ISO 4217 code such as \"USD\"")]
    BadCurrency(String),
    #[error("cannot add {0} to {1}: amounts in different currencies")]
    CurrencyMismatch(Currency, Currency),
    #[error("amount overflows")]
    Overflow,
}

impl Money {
    pub fn new(amount: i64, currency: Currency) -> Self {
        Self { amount, currency }
    }

    pub fn zero(currency: Currency) -> Self {
        Self::new(0, currency)
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency, other.currency));
        }
        let amount = self
            .amount
            .checked_add(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    pub fn checked_mul(self, quantity: i64) -> Result<Money, MoneyError> {
        let amount = self
            .amount
            .checked_mul(quantity)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// Sums line totals; an empty list is zero in `currency`.
    pub fn sum(
        currency: Currency,
        items: impl IntoIterator<Item = Money>,
    ) -> Result<Money, MoneyError> {
        items
            .into_iter()
            .try_fold(Money::zero(currency), |acc, m| acc.checked_add(m))
    }
}

impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.amount < 0 { "-" } else { "" };
        let abs = self.amount.unsigned_abs();
        write!(f, "{sign}{}.{:02} {}", abs / 100, abs % 100, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_accepts_only_three_upper_case_letters() {
        assert!(Currency::try_from("USD").is_ok());
        assert!(Currency::try_from("usd").is_err());
        assert!(Currency::try_from("US").is_err());
        assert!(Currency::try_from("USDX").is_err());
    }

    #[test]
    fn adding_different_currencies_is_an_error() {
        let eur = Currency::try_from("EUR").unwrap();
        let err = Money::new(1, Currency::USD)
            .checked_add(Money::new(1, eur))
            .unwrap_err();
        assert!(matches!(err, MoneyError::CurrencyMismatch(_, _)));
    }

    #[test]
    fn multiplication_overflow_is_reported_not_wrapped() {
        assert_eq!(
            Money::new(i64::MAX / 2 + 1, Currency::USD).checked_mul(2),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn money_serialises_as_amount_and_currency() {
        let json = serde_json::to_value(Money::new(1999, Currency::USD)).unwrap();
        assert_eq!(json, serde_json::json!({"amount": 1999, "currency": "USD"}));
        assert_eq!(Money::new(-1999, Currency::USD).to_string(), "-19.99 USD");
    }
}
