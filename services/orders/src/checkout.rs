//! A checkout request, checked before anything is reserved or charged (the Idempotency-Key is
//! checked before this, by its extractor): the items (merged per product, bounded), the card's format, and a fingerprint of the request so a
//! repeated key with a different body is refused rather than answered with another order's
//! result. Pure.

use std::collections::BTreeMap;

use serde::Deserialize;
use storefront_common::card::{CardError, CardInput, ValidCard};
use storefront_common::ids::ProductId;

pub const MAX_LINES: usize = 50;
pub const MAX_QUANTITY: i64 = 99;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckoutBody {
    pub items: Option<Vec<ItemInput>>,
    pub payment: CardInput,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ItemInput {
    pub product_id: ProductId,
    pub quantity: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckoutError {
    #[error("items must not be empty; leave items out to order the cart")]
    NoItems,
    #[error("at most {MAX_LINES} different products per order")]
    TooManyLines,
    #[error("quantity of {0} must be 1 to {MAX_QUANTITY}")]
    BadQuantity(ProductId),
    #[error("payment: {0}")]
    Card(#[from] CardError),
}

/// What to order: explicit lines or the caller's cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Items(BTreeMap<ProductId, i32>),
    Cart,
}

#[derive(Clone)]
pub struct Checkout {
    pub key: String,
    pub source: Source,
    pub card: ValidCard,
    pub fingerprint: String,
}

impl Checkout {
    pub fn parse(key: String, body: &CheckoutBody) -> Result<Self, CheckoutError> {
        let source = match &body.items {
            None => Source::Cart,
            Some(items) => Source::Items(merge(items)?),
        };
        let card = body.payment.validate()?;
        let fingerprint = fingerprint(&source, &card);
        Ok(Self {
            key,
            source,
            card,
            fingerprint,
        })
    }
}

fn merge(items: &[ItemInput]) -> Result<BTreeMap<ProductId, i32>, CheckoutError> {
    if items.is_empty() {
        return Err(CheckoutError::NoItems);
    }
    let mut merged: BTreeMap<ProductId, i64> = BTreeMap::new();
    for item in items {
        if !(1..=MAX_QUANTITY).contains(&item.quantity) {
            return Err(CheckoutError::BadQuantity(item.product_id));
        }
        let q = merged.entry(item.product_id).or_default();
        *q += item.quantity;
        if *q > MAX_QUANTITY {
            return Err(CheckoutError::BadQuantity(item.product_id));
        }
    }
    if merged.len() > MAX_LINES {
        return Err(CheckoutError::TooManyLines);
    }
    // Bounded by MAX_QUANTITY above, so the conversion cannot fail.
    Ok(merged
        .into_iter()
        .map(|(p, q)| (p, i32::try_from(q).unwrap_or(i32::MAX)))
        .collect())
}

/// FNV-1a over a canonical text of the request. Stable across releases (unlike std's hasher);
/// the card enters only as last4 and expiry, never the full number.
fn fingerprint(source: &Source, card: &ValidCard) -> String {
    let mut text = match source {
        Source::Cart => "cart".to_string(),
        Source::Items(items) => items
            .iter()
            .map(|(p, q)| format!("{p}x{q}"))
            .collect::<Vec<_>>()
            .join(","),
    };
    text.push_str(&format!(
        "|{}|{}/{}",
        card.last4(),
        card.exp_month,
        card.exp_year
    ));
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(items: Option<Vec<(ProductId, i64)>>, number: &str) -> CheckoutBody {
        CheckoutBody {
            items: items.map(|v| {
                v.into_iter()
                    .map(|(product_id, quantity)| ItemInput {
                        product_id,
                        quantity,
                    })
                    .collect()
            }),
            payment: CardInput {
                card_number: number.into(),
                exp_month: 12,
                exp_year: 2030,
                cvc: "123".into(),
            },
        }
    }

    #[test]
    fn same_product_twice_is_merged() {
        let p = ProductId::new();
        let c = Checkout::parse(
            "k".into(),
            &body(Some(vec![(p, 2), (p, 3)]), "4242424242424242"),
        )
        .unwrap();
        assert_eq!(c.source, Source::Items([(p, 5)].into_iter().collect()));
    }

    #[test]
    fn quantities_are_bounded_even_after_merging() {
        let p = ProductId::new();
        for items in [
            vec![(p, 0)],
            vec![(p, -1)],
            vec![(p, 100)],
            vec![(p, 60), (p, 40)],
        ] {
            let err =
                Checkout::parse("k".into(), &body(Some(items.clone()), "4242424242424242")).err();
            assert_eq!(err, Some(CheckoutError::BadQuantity(p)), "{items:?}");
        }
    }

    #[test]
    fn empty_items_and_bad_cards_are_refused() {
        assert_eq!(
            Checkout::parse("k".into(), &body(Some(vec![]), "4242424242424242")).err(),
            Some(CheckoutError::NoItems)
        );
        assert!(matches!(
            Checkout::parse("k".into(), &body(None, "4242424242424241")).err(),
            Some(CheckoutError::Card(_))
        ));
    }

    #[test]
    fn fingerprint_tells_different_requests_apart_and_ignores_item_order() {
        let (a, b) = (ProductId::new(), ProductId::new());
        let one = Checkout::parse(
            "k".into(),
            &body(Some(vec![(a, 1), (b, 2)]), "4242424242424242"),
        )
        .unwrap();
        let same = Checkout::parse(
            "k".into(),
            &body(Some(vec![(b, 2), (a, 1)]), "4242 4242 4242 4242"),
        )
        .unwrap();
        let other = Checkout::parse(
            "k".into(),
            &body(Some(vec![(a, 2), (b, 2)]), "4242424242424242"),
        )
        .unwrap();
        let cart = Checkout::parse("k".into(), &body(None, "4242424242424242")).unwrap();
        assert_eq!(one.fingerprint, same.fingerprint);
        assert_ne!(one.fingerprint, other.fingerprint);
        assert_ne!(one.fingerprint, cart.fingerprint);
    }
}
