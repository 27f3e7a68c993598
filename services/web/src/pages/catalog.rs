//! Browsing: the home page (search, category filter with counts, sort, paging, product cards)
//! and the product page (details, price, stock wording, add to cart). Query values from the URL
//! are cleaned here so the catalog only ever receives values it accepts.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{AppState, Layout, PageError, looks_like_id, render};
use crate::api::{Product, ProductQuery};
use crate::assets::product_image;
use crate::format::{self, Paging};
use crate::session::Session;

pub const PAGE_SIZE: u32 = 12;

/// The sorts the catalog offers, as `(value, label)`; the first is the default.
pub const SORTS: &[(&str, &str)] = &[
    ("newest", "Newest"),
    ("price", "Price: low to high"),
    ("-price", "Price: high to low"),
    ("name", "Name"),
];

/// The listing's URL query, read leniently: a bad value means "default", never an error page.
#[derive(Debug, Default, Deserialize)]
pub struct ListingParams {
    q: Option<String>,
    category: Option<String>,
    sort: Option<String>,
    page: Option<String>,
}

/// A listing request after cleaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub q: String,
    pub category: String,
    pub sort: &'static str,
    pub page: u32,
}

impl Listing {
    pub fn from_params(p: ListingParams) -> Self {
        let clean = |v: Option<String>| {
            v.map(|s| s.trim().chars().take(200).collect::<String>())
                .unwrap_or_default()
        };
        let sort = p.sort.as_deref().unwrap_or_default();
        Self {
            q: clean(p.q),
            category: clean(p.category),
            sort: SORTS
                .iter()
                .find(|(value, _)| *value == sort)
                .map_or(SORTS[0].0, |(value, _)| value),
            page: p
                .page
                .and_then(|s| s.trim().parse::<u32>().ok())
                .filter(|n| *n >= 1)
                .unwrap_or(1),
        }
    }

    pub fn api_query(&self) -> ProductQuery {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        ProductQuery {
            q: some(&self.q),
            category: some(&self.category),
            sort: Some(self.sort.to_string()),
            page: self.page,
            page_size: PAGE_SIZE,
        }
    }

    /// The link to this listing with another category and page; defaults are left out so
    /// links stay short.
    pub fn href(&self, category: &str, page: u32) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if !self.q.is_empty() {
            pairs.push(("q", self.q.clone()));
        }
        if !category.is_empty() {
            pairs.push(("category", category.to_string()));
        }
        if self.sort != SORTS[0].0 {
            pairs.push(("sort", self.sort.to_string()));
        }
        if page > 1 {
            pairs.push(("page", page.to_string()));
        }
        match serde_urlencoded::to_string(&pairs) {
            Ok(query) if !query.is_empty() => format!("/?{query}"),
            _ => "/".to_string(),
        }
    }
}

pub struct ProductCard {
    pub id: String,
    pub name: String,
    pub category: String,
    pub price: String,
    pub image: String,
}

impl From<&Product> for ProductCard {
    fn from(p: &Product) -> Self {
        Self {
            id: p.id.clone(),
            name: p.name.clone(),
            category: p.category.clone(),
            price: format::price(&p.price),
            image: product_image(p.image_url.as_deref(), &p.category),
        }
    }
}

pub struct CategoryLink {
    /// The catalog's own name, used in links and as a stable test hook.
    pub slug: String,
    pub name: String,
    pub count: u64,
    pub href: String,
    pub current: bool,
}

pub struct SortOption {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    layout: Layout,
    heading: String,
    q: String,
    category: String,
    products: Vec<ProductCard>,
    total: u64,
    categories: Vec<CategoryLink>,
    all_href: String,
    sorts: Vec<SortOption>,
    page: u32,
    pages: u32,
    prev_href: Option<String>,
    next_href: Option<String>,
}

pub async fn home(
    State(state): State<AppState>,
    session: Session,
    Query(params): Query<ListingParams>,
) -> Result<Response, PageError> {
    let listing = Listing::from_params(params);
    let query = listing.api_query();
    let (found, categories, layout) = tokio::join!(
        state.api.products(&query),
        state.api.categories(),
        Layout::load(&state, &session, "Shop"),
    );
    let found = found?;
    let categories = categories?;
    let paging = Paging::new(listing.page, found.page_size.max(1), found.total);
    let heading = match (listing.q.is_empty(), listing.category.is_empty()) {
        (true, true) => "All products".to_string(),
        (true, false) => capitalise(&listing.category),
        (false, _) => format!("Results for “{}”", listing.q),
    };
    let page = HomePage {
        layout: layout.with_query(&listing.q),
        heading,
        q: listing.q.clone(),
        category: listing.category.clone(),
        products: found.items.iter().map(ProductCard::from).collect(),
        total: found.total,
        categories: categories
            .iter()
            .map(|c| CategoryLink {
                slug: c.name.clone(),
                name: capitalise(&c.name),
                count: c.count,
                href: listing.href(&c.name, 1),
                current: c.name == listing.category,
            })
            .collect(),
        all_href: listing.href("", 1),
        sorts: SORTS
            .iter()
            .map(|(value, label)| SortOption {
                value,
                label,
                selected: *value == listing.sort,
            })
            .collect(),
        page: paging.page,
        pages: paging.pages,
        prev_href: paging.prev().map(|p| listing.href(&listing.category, p)),
        next_href: paging.next().map(|p| listing.href(&listing.category, p)),
    };
    Ok(render(StatusCode::OK, &page))
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[derive(Template)]
#[template(path = "product.html")]
struct ProductPage {
    layout: Layout,
    product: ProductCard,
    description: String,
    stock: String,
    stock_class: &'static str,
    max_quantity: i64,
    notice: Option<&'static str>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ProductParams {
    error: Option<String>,
}

pub async fn product(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Query(params): Query<ProductParams>,
) -> Result<Response, PageError> {
    if !looks_like_id(&id) {
        return Err(PageError::NotFound);
    }
    let (product, stock, layout) = tokio::join!(
        state.api.product(&id),
        state.api.stock(&id),
        Layout::load(&state, &session, "Product"),
    );
    let product = product?;
    // Stock is a detail of the page: unknown stock degrades the wording, not the page.
    let available = match stock {
        Ok(stock) => Some(stock.available),
        Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => Some(0),
        Err(e) => {
            tracing::warn!(error = %e, "stock unavailable for the product page");
            None
        }
    };
    let (stock, stock_class) = match available {
        None => ("Availability unknown right now".to_string(), "low"),
        Some(n) if n <= 0 => (format::stock_sentence(n), "out"),
        Some(n) if n <= format::LOW_STOCK => (format::stock_sentence(n), "low"),
        Some(n) => (format::stock_sentence(n), "in"),
    };
    let page = ProductPage {
        layout: Layout {
            title: product.name.clone(),
            ..layout
        },
        description: product.description.clone(),
        product: ProductCard::from(&product),
        stock,
        stock_class,
        // The cart takes any quantity; offering more than is in stock only fails at checkout.
        max_quantity: available.unwrap_or(99).clamp(1, 99),
        notice: params
            .error
            .is_some()
            .then_some("Please choose a quantity between 1 and 99."),
    };
    Ok(render(StatusCode::OK, &page))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> ListingParams {
        let query = serde_urlencoded::to_string(pairs).unwrap();
        serde_urlencoded::from_str(&query).unwrap()
    }

    #[test]
    fn listing_defaults_bad_values_instead_of_failing() {
        let l = Listing::from_params(params(&[("sort", "cheapest"), ("page", "-3")]));
        assert_eq!((l.sort, l.page), ("newest", 1));
        let l = Listing::from_params(params(&[("page", "abc"), ("q", "  mug  ")]));
        assert_eq!((l.page, l.q.as_str()), (1, "mug"));
    }

    #[test]
    fn listing_links_keep_search_and_sort_but_not_defaults() {
        let l = Listing::from_params(params(&[("q", "tea & coffee"), ("sort", "-price")]));
        assert_eq!(
            l.href("kitchen", 2),
            "/?q=tea+%26+coffee&category=kitchen&sort=-price&page=2"
        );
        let plain = Listing::from_params(ListingParams::default());
        assert_eq!(plain.href("", 1), "/");
    }

    #[test]
    fn listing_passes_every_filter_to_the_catalog() {
        let l = Listing::from_params(params(&[
            ("q", "pan"),
            ("category", "kitchen"),
            ("sort", "name"),
            ("page", "3"),
        ]));
        let q = l.api_query();
        assert_eq!(q.q.as_deref(), Some("pan"));
        assert_eq!(q.category.as_deref(), Some("kitchen"));
        assert_eq!(q.sort.as_deref(), Some("name"));
        assert_eq!((q.page, q.page_size), (3, PAGE_SIZE));
    }
}
