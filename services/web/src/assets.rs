//! Static assets compiled into the binary (the stylesheet and one illustration per demo
//! category), so the image is self-contained and the catalog's `imageUrl` of
//! `/static/img/<category>.svg` always resolves. Unknown categories get the placeholder.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub const STYLESHEET: &str = include_str!("../static/style.css");
pub const PLACEHOLDER: &str = include_str!("../static/img/placeholder.svg");

/// One illustration per category of `storefront_common::demo::PRODUCTS`.
pub const CATEGORY_IMAGES: &[(&str, &str)] = &[
    ("kitchen", include_str!("../static/img/kitchen.svg")),
    ("books", include_str!("../static/img/books.svg")),
    ("outdoor", include_str!("../static/img/outdoor.svg")),
    ("electronics", include_str!("../static/img/electronics.svg")),
    ("home", include_str!("../static/img/home.svg")),
    ("apparel", include_str!("../static/img/apparel.svg")),
];

const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";
// Assets change only with a new binary; an hour keeps pages fast without pinning old styles
// for long after a deploy.
const CACHE: &str = "public, max-age=3600";

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/static/style.css", get(stylesheet))
        .route("/static/img/{file}", get(image))
}

async fn stylesheet() -> Response {
    asset(CSS, STYLESHEET)
}

async fn image(Path(file): Path<String>) -> Response {
    let Some(name) = file.strip_suffix(".svg") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match image_for(name) {
        Some(svg) => asset(SVG, svg),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The SVG served as `/static/img/<name>.svg`.
pub fn image_for(name: &str) -> Option<&'static str> {
    if name == "placeholder" {
        return Some(PLACEHOLDER);
    }
    CATEGORY_IMAGES
        .iter()
        .find(|(category, _)| *category == name)
        .map(|(_, svg)| *svg)
}

/// The image a product card shows: the catalog's own URL when it points at our assets or
/// elsewhere, the category picture when the product has none.
pub fn product_image(image_url: Option<&str>, category: &str) -> String {
    match image_url {
        Some(url) if !url.trim().is_empty() => url.to_string(),
        _ if image_for(category).is_some() => format!("/static/img/{category}.svg"),
        _ => "/static/img/placeholder.svg".to_string(),
    }
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, CACHE),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_demo_category_has_an_illustration() {
        for product in storefront_common::demo::PRODUCTS {
            let svg = image_for(product.category)
                .unwrap_or_else(|| panic!("no image for category {}", product.category));
            assert!(svg.contains("<svg") && svg.contains("</svg>"));
        }
    }

    #[test]
    fn illustrations_are_accessible_svg() {
        for (name, svg) in CATEGORY_IMAGES
            .iter()
            .chain([&("placeholder", PLACEHOLDER)])
        {
            assert!(
                svg.contains("xmlns=\"http://www.w3.org/2000/svg\""),
                "{name}"
            );
            assert!(svg.contains("viewBox="), "{name} must scale");
            assert!(svg.contains("<title"), "{name} needs a title");
        }
    }

    #[test]
    fn products_without_image_fall_back_by_category() {
        assert_eq!(product_image(None, "books"), "/static/img/books.svg");
        assert_eq!(
            product_image(Some(" "), "nope"),
            "/static/img/placeholder.svg"
        );
        assert_eq!(
            product_image(Some("/static/img/home.svg"), "books"),
            "/static/img/home.svg"
        );
    }
}
