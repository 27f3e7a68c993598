//! The mock card gateway's decisions, pure. Format checks (digits, length, Luhn, expiry, CVC)
//! are the shared [`storefront_common::card`] ones, so orders and payments agree on what a valid
//! card is; this module adds what only the gateway knows: which test numbers are declined and
//! why, and which request field a format error points at. Only brand and last four digits ever
//! leave this module for storage.

use storefront_common::ApiError;
pub use storefront_common::card::{CardError, CardInput, ValidCard};

/// The well-known test number that is always declined as a generic decline.
pub const DECLINED: &str = "4000000000000002";
/// The well-known test number that is always declined for lack of funds.
pub const INSUFFICIENT_FUNDS: &str = "4000000000009995";

/// Why the (mock) issuer refused a charge; the code is part of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclineCode {
    CardDeclined,
    InsufficientFunds,
}

impl DeclineCode {
    pub fn as_str(self) -> &'static str {
        match self {
            DeclineCode::CardDeclined => "card_declined",
            DeclineCode::InsufficientFunds => "insufficient_funds",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "card_declined" => Some(DeclineCode::CardDeclined),
            "insufficient_funds" => Some(DeclineCode::InsufficientFunds),
            _ => None,
        }
    }
}

/// What the issuer answers for a valid card: `None` approves, `Some` declines.
pub fn decide(card: &ValidCard) -> Option<DeclineCode> {
    match card.number.as_str() {
        DECLINED => Some(DeclineCode::CardDeclined),
        INSUFFICIENT_FUNDS => Some(DeclineCode::InsufficientFunds),
        _ => None,
    }
}

/// The request field a format error is about, as the client spelled it.
pub fn field(err: &CardError) -> &'static str {
    match err {
        CardError::NumberFormat | CardError::Luhn => "cardNumber",
        CardError::Month => "expMonth",
        CardError::Expired | CardError::Year => "expYear",
        CardError::Cvc => "cvc",
    }
}

/// A 422 `invalid_card` naming the field; the message never repeats the number.
pub fn invalid(err: &CardError) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_card",
        err.to_string(),
    )
    .with_details(serde_json::json!({ "field": field(err) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(number: &str) -> ValidCard {
        CardInput {
            card_number: number.into(),
            exp_month: 12,
            exp_year: 2030,
            cvc: "123".into(),
        }
        .validate_at(2026, 1)
        .unwrap()
    }

    #[test]
    fn the_two_decline_test_cards_decline_with_their_codes() {
        assert_eq!(decide(&valid(DECLINED)), Some(DeclineCode::CardDeclined));
        assert_eq!(
            decide(&valid("4000 0000 0000 9995")),
            Some(DeclineCode::InsufficientFunds)
        );
    }

    #[test]
    fn any_other_valid_number_is_approved() {
        for number in ["4242424242424242", "5555555555554444", "378282246310005"] {
            assert_eq!(decide(&valid(number)), None, "{number}");
        }
    }

    #[test]
    fn brands_follow_the_issuer_prefix() {
        assert_eq!(valid("4242424242424242").brand(), "visa");
        assert_eq!(valid("5105105105105100").brand(), "mastercard");
        assert_eq!(valid("2223003122003222").brand(), "mastercard");
        assert_eq!(valid("378282246310005").brand(), "amex");
        assert_eq!(valid("6011111111111117").brand(), "unknown");
    }

    #[test]
    fn errors_point_at_the_field_and_never_echo_the_number() {
        let card = CardInput {
            card_number: "4242424242424241".into(),
            exp_month: 12,
            exp_year: 2030,
            cvc: "123".into(),
        };
        let Err(err) = card.validate_at(2026, 1) else {
            panic!("a number failing Luhn must be refused")
        };
        let api = invalid(&err);
        assert_eq!(api.status, 422);
        assert_eq!(api.code, "invalid_card");
        assert_eq!(
            api.details,
            Some(serde_json::json!({"field": "cardNumber"}))
        );
        assert!(!api.message.contains("4242"), "{}", api.message);
    }

    #[test]
    fn decline_codes_round_trip() {
        for code in [DeclineCode::CardDeclined, DeclineCode::InsufficientFunds] {
            assert_eq!(DeclineCode::parse(code.as_str()), Some(code));
        }
    }
}
