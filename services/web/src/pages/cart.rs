//! The cart: view it, add from a listing or product page, change a quantity, remove a line.
//! Every change is a plain form post answered with a redirect (post/redirect/get), so reloading
//! the cart page never repeats a change.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{AppState, Layout, PageError, looks_like_id, render};
use crate::api::Cart;
use crate::assets::product_image;
use crate::format;
use crate::session::{Session, login_redirect};

/// The most of one product a form may ask for; the API has the final word.
pub const MAX_QUANTITY: u32 = 99;

pub struct CartRow {
    pub product_id: String,
    pub name: String,
    pub image: String,
    pub unit_price: String,
    pub quantity: u32,
    pub line_total: String,
}

/// The cart as pages show it (the cart page and the checkout summary).
pub struct CartView {
    pub rows: Vec<CartRow>,
    pub item_count: u32,
    pub total: String,
}

impl From<&Cart> for CartView {
    fn from(cart: &Cart) -> Self {
        Self {
            rows: cart
                .items
                .iter()
                .map(|line| CartRow {
                    product_id: line.product_id.clone(),
                    name: line.name.clone(),
                    image: product_image(line.image_url.as_deref(), ""),
                    unit_price: format::price(&line.unit_price),
                    quantity: line.quantity,
                    line_total: format::price(&line.line_total),
                })
                .collect(),
            item_count: cart.item_count,
            total: format::price(&cart.total),
        }
    }
}

#[derive(Template)]
#[template(path = "cart.html")]
struct CartPage {
    layout: Layout,
    cart: CartView,
    notice: Option<&'static str>,
}

#[derive(Debug, Default, Deserialize)]
pub struct CartParams {
    added: Option<String>,
    updated: Option<String>,
    removed: Option<String>,
}

pub async fn view(
    State(state): State<AppState>,
    session: Session,
    Query(params): Query<CartParams>,
) -> Result<Response, PageError> {
    let token = match session.require("/cart") {
        Ok(token) => token,
        Err(redirect) => return Ok(redirect.into_response()),
    };
    let cart = state.api.cart(token).await?;
    let mut layout = Layout::plain(&state, &session, "Your cart");
    layout.cart_count = Some(cart.item_count);
    let notice = if params.added.is_some() {
        Some("Added to your cart.")
    } else if params.updated.is_some() {
        Some("Quantity updated.")
    } else if params.removed.is_some() {
        Some("Removed from your cart.")
    } else {
        None
    };
    let page = CartPage {
        layout,
        cart: CartView::from(&cart),
        notice,
    };
    Ok(render(StatusCode::OK, &page))
}

/// A quantity typed by the shopper, within `min..=MAX_QUANTITY`.
pub fn parse_quantity(text: &str, min: u32) -> Option<u32> {
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (min..=MAX_QUANTITY).contains(n))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddForm {
    product_id: String,
    #[serde(default)]
    quantity: String,
}

pub async fn add(
    State(state): State<AppState>,
    session: Session,
    axum::Form(form): axum::Form<AddForm>,
) -> Result<Response, PageError> {
    if !looks_like_id(&form.product_id) {
        return Err(PageError::NotFound);
    }
    let product_page = format!("/products/{}", form.product_id);
    let Some(token) = session.token.as_deref() else {
        // The post cannot be replayed after login; bring the shopper back to the product.
        return Ok(login_redirect(&product_page).into_response());
    };
    let quantity = if form.quantity.trim().is_empty() {
        Some(1)
    } else {
        parse_quantity(&form.quantity, 1)
    };
    let Some(quantity) = quantity else {
        return Ok(Redirect::to(&format!("{product_page}?error=quantity")).into_response());
    };
    match state
        .api
        .add_to_cart(token, &form.product_id, quantity)
        .await
    {
        Ok(_) => Ok(Redirect::to("/cart?added=1").into_response()),
        Err(e) if e.status() == Some(StatusCode::UNPROCESSABLE_ENTITY) => {
            Ok(Redirect::to(&format!("{product_page}?error=quantity")).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct UpdateForm {
    #[serde(default)]
    quantity: String,
}

pub async fn update(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<UpdateForm>,
) -> Result<Response, PageError> {
    let token = match session.require("/cart") {
        Ok(token) => token,
        Err(redirect) => return Ok(redirect.into_response()),
    };
    if !looks_like_id(&id) {
        return Err(PageError::NotFound);
    }
    // Zero removes the line, as the API defines it; a nonsense quantity changes nothing.
    let Some(quantity) = parse_quantity(&form.quantity, 0) else {
        return Ok(Redirect::to("/cart").into_response());
    };
    state.api.set_quantity(token, &id, quantity).await?;
    let to = if quantity == 0 {
        "/cart?removed=1"
    } else {
        "/cart?updated=1"
    };
    Ok(Redirect::to(to).into_response())
}

pub async fn remove(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let token = match session.require("/cart") {
        Ok(token) => token,
        Err(redirect) => return Ok(redirect.into_response()),
    };
    if !looks_like_id(&id) {
        return Err(PageError::NotFound);
    }
    state.api.remove_from_cart(token, &id).await?;
    Ok(Redirect::to("/cart?removed=1").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_outside_the_range_are_refused() {
        assert_eq!(parse_quantity(" 3 ", 1), Some(3));
        assert_eq!(parse_quantity("0", 1), None);
        assert_eq!(parse_quantity("0", 0), Some(0));
        assert_eq!(parse_quantity("100", 1), None);
        assert_eq!(parse_quantity("-1", 0), None);
        assert_eq!(parse_quantity("two", 1), None);
    }
}
