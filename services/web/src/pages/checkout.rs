//! Checkout: the card form and placing the order from the cart. Each render of the form carries
//! a fresh `Idempotency-Key` in a hidden field, so a double submit of one form places one order.
//! After a definite answer (declined, out of stock, invalid card) the form gets a new key; after
//! an ambiguous one (API down or timed out) it keeps the same key, so trying again can never
//! charge twice.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;
use storefront_common::client::UpstreamError;

use super::cart::CartView;
use super::{AppState, Layout, PageError, api_message, render};
use crate::api::{Card, Cart};
use crate::session::Session;

#[derive(Template)]
#[template(path = "checkout.html")]
struct CheckoutPage {
    layout: Layout,
    cart: CartView,
    idempotency_key: String,
    error: Option<String>,
    exp_month: String,
    exp_year: String,
}

fn new_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub async fn form(State(state): State<AppState>, session: Session) -> Result<Response, PageError> {
    let token = match session.require("/checkout") {
        Ok(token) => token,
        Err(redirect) => return Ok(redirect.into_response()),
    };
    let cart = state.api.cart(token).await?;
    let page = page(
        &state,
        &session,
        &cart,
        new_key(),
        None,
        CheckoutForm::default(),
    );
    Ok(render(StatusCode::OK, &page))
}

fn page(
    state: &AppState,
    session: &Session,
    cart: &Cart,
    idempotency_key: String,
    error: Option<String>,
    form: CheckoutForm,
) -> CheckoutPage {
    let mut layout = Layout::plain(state, session, "Checkout");
    layout.cart_count = Some(cart.item_count);
    CheckoutPage {
        layout,
        cart: CartView::from(cart),
        idempotency_key,
        error,
        // The card number and CVC are never written back into a page.
        exp_month: form.exp_month,
        exp_year: form.exp_year,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutForm {
    #[serde(default)]
    idempotency_key: String,
    #[serde(default)]
    card_number: String,
    #[serde(default)]
    exp_month: String,
    #[serde(default)]
    exp_year: String,
    #[serde(default)]
    cvc: String,
}

pub async fn place(
    State(state): State<AppState>,
    session: Session,
    axum::Form(form): axum::Form<CheckoutForm>,
) -> Result<Response, PageError> {
    let token = match session.require("/checkout") {
        Ok(token) => token.to_string(),
        Err(redirect) => return Ok(redirect.into_response()),
    };
    // A key that is not one of ours (missing, or edited) is replaced: a fresh key is always
    // safe, it only loses the double-submit protection of that one post.
    let key = if uuid::Uuid::parse_str(form.idempotency_key.trim()).is_ok() {
        form.idempotency_key.trim().to_string()
    } else {
        new_key()
    };
    let card = match (
        form.exp_month.trim().parse::<u32>(),
        form.exp_year.trim().parse::<u32>(),
    ) {
        (Ok(exp_month), Ok(exp_year)) => Card {
            card_number: form.card_number.trim().to_string(),
            exp_month,
            exp_year,
            cvc: form.cvc.trim().to_string(),
        },
        _ => {
            let cart = state.api.cart(&token).await?;
            let message = "Enter the expiry month and year as numbers, for example 12 and 2030.";
            let page = page(&state, &session, &cart, key, Some(message.into()), form);
            return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
    };

    let err = match state.api.place_order(&token, &key, &card).await {
        Ok(order) => {
            return Ok(Redirect::to(&format!("/orders/{}?placed=1", order.id)).into_response());
        }
        Err(err) => err,
    };
    let (status, message, keep_key) = match outcome(&err) {
        Outcome::Declined => (
            StatusCode::PAYMENT_REQUIRED,
            "Your card was declined, and nothing was charged. Please try another card.".to_string(),
            false,
        ),
        Outcome::OutOfStock(ids) => {
            // Names come from the cart, which is what the shopper sees on this page.
            let cart = state.api.cart(&token).await.ok();
            let names = out_of_stock_names(&ids, cart.as_ref());
            (
                StatusCode::CONFLICT,
                out_of_stock_message(&names),
                false,
            )
        }
        Outcome::Rejected(status) => (status, rejection_message(&err), false),
        Outcome::Ambiguous => (
            StatusCode::SERVICE_UNAVAILABLE,
            "We could not confirm your order because the shop did not answer in time. Submitting again is safe: you will not be charged twice.".to_string(),
            true,
        ),
        Outcome::Other => return Err(err.into()),
    };
    let cart = state.api.cart(&token).await?;
    let key = if keep_key { key } else { new_key() };
    let page = page(&state, &session, &cart, key, Some(message), form);
    Ok(render(status, &page))
}

/// What the shopper is told about a failed `POST /api/orders`.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Declined,
    OutOfStock(Vec<String>),
    /// Bad card or a reused key with other details: the shopper can fix the form.
    Rejected(StatusCode),
    /// The order may or may not exist: retry with the same key.
    Ambiguous,
    Other,
}

fn outcome(err: &UpstreamError) -> Outcome {
    if err.is_ambiguous() {
        return Outcome::Ambiguous;
    }
    match err {
        UpstreamError::Status { status, .. } if *status == StatusCode::PAYMENT_REQUIRED => {
            Outcome::Declined
        }
        UpstreamError::Status {
            status,
            code,
            details,
            ..
        } if *status == StatusCode::CONFLICT && code == "out_of_stock" => {
            Outcome::OutOfStock(out_of_stock_ids(details.as_ref()))
        }
        UpstreamError::Status { status, .. }
            if *status == StatusCode::UNPROCESSABLE_ENTITY
                || *status == StatusCode::BAD_REQUEST =>
        {
            Outcome::Rejected(*status)
        }
        _ => Outcome::Other,
    }
}

fn rejection_message(err: &UpstreamError) -> String {
    match err.code() {
        Some("idempotency_key_reused") => {
            "This form was already sent with other details. Please check them and place the order again.".to_string()
        }
        Some("invalid_card" | "validation_failed") | None => format!(
            "Please check your card details: {}",
            api_message(err, "the card was not accepted.")
        ),
        Some(_) => api_message(err, "The order could not be placed. Please check your cart."),
    }
}

fn out_of_stock_ids(details: Option<&Value>) -> Vec<String> {
    details
        .and_then(|d| d.get("products"))
        .and_then(Value::as_array)
        .map(|products| {
            products
                .iter()
                .filter_map(|p| p.get("productId").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn out_of_stock_names(ids: &[String], cart: Option<&Cart>) -> Vec<String> {
    ids.iter()
        .filter_map(|id| {
            cart.and_then(|c| c.items.iter().find(|line| &line.product_id == id))
                .map(|line| line.name.clone())
        })
        .collect()
}

fn out_of_stock_message(names: &[String]) -> String {
    if names.is_empty() {
        "Sorry, some items in your cart are no longer in stock in the quantity you chose. Please update your cart and try again; nothing was charged.".to_string()
    } else {
        format!(
            "Sorry, not enough stock left for: {}. Please lower the quantity or remove it from your cart; nothing was charged.",
            names.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status(status: StatusCode, code: &str, details: Option<Value>) -> UpstreamError {
        UpstreamError::Status {
            service: "gateway",
            status,
            code: code.into(),
            message: "m".into(),
            details,
        }
    }

    #[test]
    fn outcomes_follow_the_orders_contract() {
        assert_eq!(
            outcome(&status(
                StatusCode::PAYMENT_REQUIRED,
                "payment_declined",
                None
            )),
            Outcome::Declined
        );
        let details = json!({"products": [{"productId": "p1", "requested": 3, "available": 1}]});
        assert_eq!(
            outcome(&status(StatusCode::CONFLICT, "out_of_stock", Some(details))),
            Outcome::OutOfStock(vec!["p1".into()])
        );
        assert_eq!(
            outcome(&status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_card",
                None
            )),
            Outcome::Rejected(StatusCode::UNPROCESSABLE_ENTITY)
        );
        assert_eq!(
            outcome(&status(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                None
            )),
            Outcome::Ambiguous
        );
        let down = UpstreamError::Unreachable {
            service: "gateway",
            reason: "refused".into(),
        };
        assert_eq!(outcome(&down), Outcome::Ambiguous);
        assert_eq!(
            outcome(&status(StatusCode::FORBIDDEN, "forbidden", None)),
            Outcome::Other
        );
    }

    #[test]
    fn out_of_stock_message_names_products_or_speaks_generally() {
        assert!(out_of_stock_message(&["Mug".into(), "Pan".into()]).contains("Mug, Pan"));
        assert!(out_of_stock_message(&[]).contains("no longer in stock"));
        assert!(out_of_stock_ids(Some(&json!({"other": 1}))).is_empty());
    }
}
