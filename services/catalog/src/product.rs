//! Products as clients see them, and the rules an admin's input must pass before it is stored.
//! Invariants of a stored product: a trimmed name of 1..=200 characters, a description of at most
//! 5000, a lower-case slug category of 1..=50, a price of 0..=100_000_000 minor units in the
//! shop's one currency.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use storefront_common::ApiError;
use storefront_common::ids::ProductId;
use storefront_common::money::{Currency, Money};

pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 5000;
pub const MAX_CATEGORY_CHARS: usize = 50;
pub const MAX_PRICE_MINOR: i64 = 100_000_000;
pub const MAX_IMAGE_URL_CHARS: usize = 2000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub id: ProductId,
    pub name: String,
    pub description: String,
    pub category: String,
    pub price: Money,
    pub image_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The body of a create or update, as sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductInput {
    pub name: String,
    pub description: String,
    pub category: String,
    pub price: Money,
    #[serde(default)]
    pub image_url: Option<String>,
}

/// Input that passed [`validate`]; the only thing the store accepts for writes.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidProduct {
    pub name: String,
    pub description: String,
    pub category: String,
    pub price: Money,
    pub image_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("name must be 1 to {MAX_NAME_CHARS} characters (not counting surrounding spaces)")]
    Name,
    #[error("description must be at most {MAX_DESCRIPTION_CHARS} characters")]
    Description,
    #[error(
        "category must be a lower-case slug of 1 to {MAX_CATEGORY_CHARS} characters: letters a-z, digits and single dashes, such as \"home-office\""
    )]
    Category,
    #[error("price amount must be between 0 and {MAX_PRICE_MINOR} minor units")]
    PriceRange,
    #[error("price currency must be {expected}, the currency of this shop (got {got})")]
    Currency { expected: Currency, got: Currency },
    #[error(
        "imageUrl must be an http(s) URL or a path starting with /, at most {MAX_IMAGE_URL_CHARS} characters"
    )]
    ImageUrl,
}

impl Invalid {
    pub fn field(&self) -> &'static str {
        match self {
            Invalid::Name => "name",
            Invalid::Description => "description",
            Invalid::Category => "category",
            Invalid::PriceRange => "price.amount",
            Invalid::Currency { .. } => "price.currency",
            Invalid::ImageUrl => "imageUrl",
        }
    }
}

/// Checks every field and reports all problems at once, so a form can show them together.
pub fn validate(
    input: ProductInput,
    shop_currency: Currency,
) -> Result<ValidProduct, Vec<Invalid>> {
    let mut problems = Vec::new();
    let name = input.name.trim().to_string();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        problems.push(Invalid::Name);
    }
    if input.description.chars().count() > MAX_DESCRIPTION_CHARS {
        problems.push(Invalid::Description);
    }
    if !is_slug(&input.category) {
        problems.push(Invalid::Category);
    }
    if !(0..=MAX_PRICE_MINOR).contains(&input.price.amount) {
        problems.push(Invalid::PriceRange);
    }
    if input.price.currency != shop_currency {
        problems.push(Invalid::Currency {
            expected: shop_currency,
            got: input.price.currency,
        });
    }
    // An empty string means "no image", the same as leaving the field out.
    let image_url = input
        .image_url
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty());
    if image_url.as_deref().is_some_and(|u| !is_image_url(u)) {
        problems.push(Invalid::ImageUrl);
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(ValidProduct {
        name,
        description: input.description,
        category: input.category,
        price: input.price,
        image_url,
    })
}

/// `a-z0-9` words joined by single dashes.
pub fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_CATEGORY_CHARS
        && s.split('-').all(|word| {
            !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

fn is_image_url(u: &str) -> bool {
    u.chars().count() <= MAX_IMAGE_URL_CHARS
        && !u.chars().any(char::is_whitespace)
        && (u.starts_with("https://") || u.starts_with("http://") || u.starts_with('/'))
}

/// 422 `validation_failed` with `details.fields` mapping each bad field to what is wrong.
pub fn rejection(problems: &[Invalid]) -> ApiError {
    let fields: Map<String, Value> = problems
        .iter()
        .map(|p| (p.field().to_string(), Value::String(p.to_string())))
        .collect();
    let message = problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    ApiError::validation(message).with_details(serde_json::json!({ "fields": fields }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> ProductInput {
        ProductInput {
            name: "  Teapot  ".into(),
            description: "Holds tea.".into(),
            category: "kitchen".into(),
            price: Money::new(1999, Currency::USD),
            image_url: None,
        }
    }

    #[test]
    fn valid_input_is_trimmed_and_kept() {
        let valid = validate(input(), Currency::USD).unwrap();
        assert_eq!(valid.name, "Teapot");
        assert_eq!(valid.price.amount, 1999);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let bad = ProductInput {
            name: "   ".into(),
            description: "x".repeat(MAX_DESCRIPTION_CHARS + 1),
            category: "Kitchen".into(),
            price: Money::new(-1, Currency::USD),
            image_url: Some("javascript:alert(1)".into()),
        };
        let problems = validate(bad, Currency::USD).unwrap_err();
        assert_eq!(
            problems,
            vec![
                Invalid::Name,
                Invalid::Description,
                Invalid::Category,
                Invalid::PriceRange,
                Invalid::ImageUrl
            ]
        );
    }

    #[test]
    fn name_limit_counts_characters_not_bytes() {
        let mut ok = input();
        ok.name = "é".repeat(MAX_NAME_CHARS);
        assert!(validate(ok, Currency::USD).is_ok());
        let mut long = input();
        long.name = "é".repeat(MAX_NAME_CHARS + 1);
        assert_eq!(
            validate(long, Currency::USD).unwrap_err(),
            vec![Invalid::Name]
        );
    }

    #[test]
    fn price_bounds_are_inclusive() {
        for (amount, ok) in [
            (0, true),
            (MAX_PRICE_MINOR, true),
            (MAX_PRICE_MINOR + 1, false),
        ] {
            let mut i = input();
            i.price.amount = amount;
            assert_eq!(validate(i, Currency::USD).is_ok(), ok, "{amount}");
        }
    }

    #[test]
    fn a_currency_other_than_the_shops_is_refused() {
        let mut i = input();
        i.price.currency = Currency::try_from("EUR").unwrap();
        let problems = validate(i, Currency::USD).unwrap_err();
        assert!(matches!(problems[..], [Invalid::Currency { .. }]));
        assert_eq!(problems[0].field(), "price.currency");
    }

    #[test]
    fn slugs_are_lower_case_words_joined_by_single_dashes() {
        for good in ["home", "home-office", "a1", "x".repeat(50).as_str()] {
            assert!(is_slug(good), "{good}");
        }
        for bad in [
            "",
            "Home",
            "home office",
            "-home",
            "home-",
            "home--office",
            "héme",
            &"x".repeat(51),
        ] {
            assert!(!is_slug(bad), "{bad}");
        }
    }

    #[test]
    fn image_urls_are_web_or_site_paths_and_blank_means_none() {
        let mut i = input();
        i.image_url = Some("/static/img/kitchen.svg".into());
        assert!(validate(i.clone(), Currency::USD).is_ok());
        i.image_url = Some("  ".into());
        assert_eq!(validate(i.clone(), Currency::USD).unwrap().image_url, None);
        i.image_url = Some("ftp://x/y.png".into());
        assert!(validate(i, Currency::USD).is_err());
    }

    #[test]
    fn rejection_names_each_field() {
        let err = rejection(&[Invalid::Name, Invalid::PriceRange]);
        assert_eq!(err.status, 422);
        let fields = &err.details.unwrap()["fields"];
        assert!(fields["name"].is_string() && fields["price.amount"].is_string());
    }
}
