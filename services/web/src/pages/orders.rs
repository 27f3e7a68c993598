//! Order history and order detail, with a cancel button on paid orders. The confirmation after
//! checkout is the detail page with `?placed=1`, so a reload shows the order, not a new one.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{AppState, Layout, PageError, api_message, looks_like_id, render};
use crate::api::Order;
use crate::format;
use crate::session::Session;

pub struct OrderLineView {
    pub product_id: String,
    pub name: String,
    pub unit_price: String,
    pub quantity: u32,
    pub line_total: String,
}

pub struct OrderView {
    pub id: String,
    pub short_id: String,
    pub status: String,
    pub badge: &'static str,
    pub badge_class: &'static str,
    pub failure_reason: Option<String>,
    pub placed: String,
    pub total: String,
    pub item_count: u32,
    pub lines: Vec<OrderLineView>,
    pub cancellable: bool,
}

impl From<&Order> for OrderView {
    fn from(o: &Order) -> Self {
        let (badge, badge_class) = format::status_badge(&o.status);
        Self {
            id: o.id.clone(),
            short_id: o.id.chars().take(8).collect(),
            status: o.status.clone(),
            badge,
            badge_class,
            failure_reason: o.failure_reason.as_deref().map(format::failure_reason),
            placed: format::date(&o.created_at),
            total: format::price(&o.total),
            item_count: o.items.iter().map(|l| l.quantity).sum(),
            lines: o
                .items
                .iter()
                .map(|l| OrderLineView {
                    product_id: l.product_id.clone(),
                    name: l.name.clone(),
                    unit_price: format::price(&l.unit_price),
                    quantity: l.quantity,
                    line_total: format::price(&l.line_total),
                })
                .collect(),
            cancellable: o.status == "paid",
        }
    }
}

#[derive(Template)]
#[template(path = "orders.html")]
struct OrdersPage {
    layout: Layout,
    orders: Vec<OrderView>,
}

pub async fn list(State(state): State<AppState>, session: Session) -> Result<Response, PageError> {
    let token = match session.require("/orders") {
        Ok(token) => token,
        Err(redirect) => return Ok(redirect.into_response()),
    };
    let (orders, layout) = tokio::join!(
        state.api.orders(token),
        Layout::load(&state, &session, "Your orders")
    );
    let page = OrdersPage {
        layout,
        orders: orders?.iter().map(OrderView::from).collect(),
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "order.html")]
struct OrderPage {
    layout: Layout,
    order: OrderView,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct OrderParams {
    placed: Option<String>,
    cancelled: Option<String>,
}

pub async fn detail(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Query(params): Query<OrderParams>,
) -> Result<Response, PageError> {
    let token = match session.require(&format!("/orders/{id}")) {
        Ok(token) => token,
        Err(redirect) => return Ok(redirect.into_response()),
    };
    if !looks_like_id(&id) {
        return Err(PageError::NotFound);
    }
    let (order, layout) = tokio::join!(
        state.api.order(token, &id),
        Layout::load(&state, &session, "Order")
    );
    let order = order?;
    let notice = if params.placed.is_some() && order.status != "failed" {
        Some("Thank you! Your order is confirmed and paid.".to_string())
    } else if params.cancelled.is_some() {
        Some("Your order was cancelled and your payment refunded.".to_string())
    } else {
        None
    };
    let page = OrderPage {
        layout: Layout {
            title: format!("Order {}", order.id.chars().take(8).collect::<String>()),
            ..layout
        },
        order: OrderView::from(&order),
        notice,
        error: None,
    };
    Ok(render(StatusCode::OK, &page))
}

pub async fn cancel(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let token = match session.require("/orders") {
        Ok(token) => token,
        Err(redirect) => return Ok(redirect.into_response()),
    };
    if !looks_like_id(&id) {
        return Err(PageError::NotFound);
    }
    match state.api.cancel_order(token, &id).await {
        Ok(_) => Ok(Redirect::to(&format!("/orders/{id}?cancelled=1")).into_response()),
        // Too late to cancel (shipped meanwhile): show the order as it is now, with why.
        Err(e) if e.status() == Some(StatusCode::CONFLICT) => {
            let order = state.api.order(token, &id).await?;
            let page = OrderPage {
                layout: Layout::load(&state, &session, "Order").await,
                order: OrderView::from(&order),
                notice: None,
                error: Some(api_message(&e, "This order can no longer be cancelled.")),
            };
            Ok(render(StatusCode::CONFLICT, &page))
        }
        Err(e) => Err(e.into()),
    }
}
