//! The public API of the whole platform as an OpenAPI 3.0 document, checked in beside the crate
//! (`openapi.json`) and embedded at compile time, served at `GET /api/openapi.json`. Tests pin
//! that it parses and that every path in it is routed by the gateway to the right backend.

use axum::http::header;
use axum::response::IntoResponse;

pub const DOCUMENT: &str = include_str!("../openapi.json");

pub async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}
