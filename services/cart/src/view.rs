//! The cart as the customer sees it: stored quantities joined with current catalog data, line
//! totals and a total computed with checked money arithmetic. Lines whose product the catalog no
//! longer has are left out and reported, so the caller can drop them from storage.

use std::collections::HashMap;

use serde::Serialize;
use storefront_common::ApiError;
use storefront_common::ids::ProductId;
use storefront_common::money::{Currency, Money, MoneyError};

use crate::catalog::CatalogProduct;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CartLine {
    pub product_id: ProductId,
    pub name: String,
    pub image_url: Option<String>,
    pub unit_price: Money,
    pub quantity: u32,
    pub line_total: Money,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cart {
    pub items: Vec<CartLine>,
    /// Units in the cart, all lines together (what a cart badge shows).
    pub item_count: u32,
    pub total: Money,
}

/// The answer to a removal made while the catalog is down: what is left, without prices.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnpricedCart {
    pub items: Vec<UnpricedLine>,
    pub item_count: u32,
    pub prices_unavailable: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnpricedLine {
    pub product_id: ProductId,
    pub quantity: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("cannot total the cart: {0} (is CART_CURRENCY the catalog's currency?)")]
    Money(#[from] MoneyError),
}

impl From<ViewError> for ApiError {
    fn from(err: ViewError) -> Self {
        ApiError::internal(err)
    }
}

pub struct Priced {
    pub cart: Cart,
    /// Products in storage that the catalog no longer has.
    pub gone: Vec<ProductId>,
}

/// Prices `lines` with `catalog`; lines are ordered by product name, then id, so the view is
/// stable from one request to the next.
pub fn price(
    lines: &[(ProductId, u32)],
    catalog: &HashMap<ProductId, CatalogProduct>,
    currency: Currency,
) -> Result<Priced, ViewError> {
    let mut items = Vec::with_capacity(lines.len());
    let mut gone = Vec::new();
    for &(product_id, quantity) in lines {
        let Some(product) = catalog.get(&product_id) else {
            gone.push(product_id);
            continue;
        };
        items.push(CartLine {
            product_id,
            name: product.name.clone(),
            image_url: product.image_url.clone(),
            unit_price: product.price,
            quantity,
            line_total: product.price.checked_mul(i64::from(quantity))?,
        });
    }
    items.sort_by(|a, b| a.name.cmp(&b.name).then(a.product_id.cmp(&b.product_id)));
    let total = Money::sum(currency, items.iter().map(|l| l.line_total))?;
    let item_count = items.iter().map(|l| l.quantity).sum();
    Ok(Priced {
        cart: Cart {
            items,
            item_count,
            total,
        },
        gone,
    })
}

pub fn unpriced(lines: &[(ProductId, u32)]) -> UnpricedCart {
    let mut items: Vec<UnpricedLine> = lines
        .iter()
        .map(|&(product_id, quantity)| UnpricedLine {
            product_id,
            quantity,
        })
        .collect();
    items.sort_by_key(|l| l.product_id);
    UnpricedCart {
        item_count: items.iter().map(|l| l.quantity).sum(),
        items,
        prices_unavailable: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(name: &str, amount: i64, currency: Currency) -> CatalogProduct {
        CatalogProduct {
            id: ProductId::new(),
            name: name.into(),
            image_url: None,
            price: Money::new(amount, currency),
        }
    }

    fn catalog(products: &[&CatalogProduct]) -> HashMap<ProductId, CatalogProduct> {
        products.iter().map(|p| (p.id, (*p).clone())).collect()
    }

    #[test]
    fn lines_are_priced_totalled_and_sorted_by_name() {
        let tea = product("Tea", 450, Currency::USD);
        let axe = product("Axe", 1999, Currency::USD);
        let priced = price(
            &[(tea.id, 3), (axe.id, 2)],
            &catalog(&[&tea, &axe]),
            Currency::USD,
        )
        .unwrap();
        let cart = priced.cart;
        assert_eq!(cart.items[0].name, "Axe");
        assert_eq!(cart.items[0].line_total, Money::new(3998, Currency::USD));
        assert_eq!(cart.items[1].line_total, Money::new(1350, Currency::USD));
        assert_eq!(cart.total, Money::new(5348, Currency::USD));
        assert_eq!(cart.item_count, 5);
        assert!(priced.gone.is_empty());
    }

    #[test]
    fn products_the_catalog_lost_are_left_out_and_reported() {
        let tea = product("Tea", 450, Currency::USD);
        let lost = ProductId::new();
        let priced = price(&[(tea.id, 1), (lost, 4)], &catalog(&[&tea]), Currency::USD).unwrap();
        assert_eq!(priced.gone, vec![lost]);
        assert_eq!(priced.cart.item_count, 1);
        assert_eq!(priced.cart.total, Money::new(450, Currency::USD));
    }

    #[test]
    fn an_empty_cart_totals_zero_in_the_shop_currency() {
        let cart = price(&[], &HashMap::new(), Currency::USD).unwrap().cart;
        assert_eq!(cart.total, Money::zero(Currency::USD));
        assert_eq!(cart.item_count, 0);
    }

    #[test]
    fn overflow_and_foreign_currencies_are_errors_not_wrong_totals() {
        let huge = product("Huge", i64::MAX / 2, Currency::USD);
        assert!(price(&[(huge.id, 3)], &catalog(&[&huge]), Currency::USD).is_err());
        let eur = product("Euro", 100, Currency::try_from("EUR").unwrap());
        assert!(price(&[(eur.id, 1)], &catalog(&[&eur]), Currency::USD).is_err());
    }

    #[test]
    fn the_unpriced_view_keeps_quantities() {
        let (a, b) = (ProductId::new(), ProductId::new());
        let view = unpriced(&[(a, 2), (b, 5)]);
        assert_eq!(view.item_count, 7);
        assert!(view.prices_unavailable);
        assert_eq!(view.items.len(), 2);
    }
}
