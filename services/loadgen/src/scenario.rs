//! What a virtual user does over HTTP: register and log in once, then the four mix operations
//! against the public API. Each operation returns one [`Outcome`]; when it takes several
//! requests (a browse that opens a product, a checkout that first fills an empty cart) the first
//! request that does not succeed decides it, and its latency covers all of them.

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, RngExt};
use reqwest::header::RETRY_AFTER;
use reqwest::{Client, RequestBuilder, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::mix::Operation;
use crate::stats::{Failure, Outcome, TransportKind};

/// Page size of a browse, the catalog's default.
pub const BROWSE_PAGE_SIZE: u64 = 20;
/// The first listing asks for the largest page the catalog serves.
const DISCOVERY_PAGE_SIZE: u64 = 100;
/// Deep pages are rare in real traffic and each is a cache miss; beyond this they add nothing.
const MAX_BROWSE_PAGES: u64 = 50;
/// How often a browse goes on to open one product of the page it listed.
const OPEN_PRODUCT_SHARE: f64 = 0.4;
pub const SORTS: [&str; 5] = ["newest", "price", "-price", "name", "-name"];
/// The password of every virtual user; the e-mail addresses are what make them unique.
pub const PASSWORD: &str = "loadgen-password";

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(
        "cannot reach the platform at {url}: {reason}; is the gateway running and is --url right?"
    )]
    Unreachable {
        url: String,
        /// The whole error chain: reqwest's own message hides the cause (refused, DNS, timeout).
        reason: String,
    },
    #[error(
        "GET {url} answered {status}; expected 200 with the product list (is --url the gateway?)"
    )]
    Status { url: String, status: StatusCode },
    #[error("GET {url} did not answer a product list: {reason}")]
    Body { url: String, reason: String },
    #[error("the catalog at {url} has no products; seed it (STOREFRONT_SEED_DEMO=true) first")]
    EmptyCatalog { url: String },
}

/// The card every checkout pays with. `Debug` shows only the last four digits.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Card {
    #[serde(rename = "cardNumber")]
    pub number: String,
    pub exp_month: u32,
    pub exp_year: u32,
    pub cvc: String,
}

impl Card {
    pub fn last4(&self) -> &str {
        self.number
            .get(self.number.len().saturating_sub(4)..)
            .unwrap_or("")
    }
}

impl std::fmt::Debug for Card {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Card")
            .field("last4", &self.last4())
            .finish_non_exhaustive()
    }
}

/// What the first product listing told us, from which browses draw their pages, categories,
/// search words and product ids.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    pub product_ids: Vec<String>,
    pub categories: Vec<String>,
    pub search_terms: Vec<String>,
    pub pages: u64,
}

#[derive(Debug, Deserialize)]
struct ProductList {
    items: Vec<ProductItem>,
    #[serde(default)]
    total: u64,
}

#[derive(Debug, Deserialize)]
struct ProductItem {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    category: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CartView {
    item_count: u64,
}

#[derive(Debug, Deserialize)]
struct LoginAnswer {
    token: String,
}

impl Catalog {
    /// Reads a `GET /api/products` body; `None` when it lists no product.
    pub fn from_listing(body: &[u8]) -> Result<Option<Catalog>, serde_json::Error> {
        let list: ProductList = serde_json::from_slice(body)?;
        if list.items.is_empty() {
            return Ok(None);
        }
        let mut categories: Vec<String> = list
            .items
            .iter()
            .map(|p| p.category.clone())
            .filter(|c| !c.is_empty())
            .collect();
        categories.sort();
        categories.dedup();
        // Whole words from names are what people type; short ones match too much to be useful.
        let mut search_terms: Vec<String> = list
            .items
            .iter()
            .flat_map(|p| p.name.split_whitespace())
            .map(|w| {
                w.trim_matches(|c: char| !c.is_alphanumeric())
                    .to_lowercase()
            })
            .filter(|w| w.chars().count() >= 4)
            .collect();
        search_terms.sort();
        search_terms.dedup();
        let total = list.total.max(list.items.len() as u64);
        Ok(Some(Catalog {
            product_ids: list.items.into_iter().map(|p| p.id).collect(),
            categories,
            search_terms,
            pages: total.div_ceil(BROWSE_PAGE_SIZE).clamp(1, MAX_BROWSE_PAGES),
        }))
    }

    fn random_product<R: Rng + ?Sized>(&self, rng: &mut R) -> &str {
        pick(&self.product_ids, rng).map_or("", String::as_str)
    }
}

fn pick<'a, T, R: Rng + ?Sized>(items: &'a [T], rng: &mut R) -> Option<&'a T> {
    if items.is_empty() {
        None
    } else {
        items.get(rng.random_range(0..items.len()))
    }
}

/// The query of one browse: a sort, plus a category filter, a search or a page number, as a
/// shopper would mostly page through the listing and sometimes narrow it.
pub fn browse_query<R: Rng + ?Sized>(
    catalog: &Catalog,
    rng: &mut R,
) -> Vec<(&'static str, String)> {
    let mut query = vec![("pageSize", BROWSE_PAGE_SIZE.to_string())];
    if let Some(sort) = pick(&SORTS, rng) {
        query.push(("sort", (*sort).to_string()));
    }
    let roll = rng.random_range(0..10);
    match (
        roll,
        pick(&catalog.categories, rng),
        pick(&catalog.search_terms, rng),
    ) {
        (0..=2, Some(category), _) => query.push(("category", category.clone())),
        (3..=4, _, Some(term)) => query.push(("q", term.clone())),
        _ => query.push(("page", rng.random_range(1..=catalog.pages).to_string())),
    }
    query
}

/// The shared, read-only part of every session.
#[derive(Debug)]
pub struct Target {
    pub client: Client,
    /// The base URL without a trailing slash, so paths append cleanly.
    pub base: String,
}

impl Target {
    pub fn new(client: Client, url: &Url) -> Target {
        Target {
            client,
            base: url.as_str().trim_end_matches('/').to_string(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The first listing; the only request whose failure stops the run before it starts.
    pub async fn discover_catalog(&self) -> Result<Catalog, SetupError> {
        let url = self.url("/api/products");
        let unreachable = |error: reqwest::Error| SetupError::Unreachable {
            url: self.base.clone(),
            reason: error_chain(&error),
        };
        let response = self
            .client
            .get(&url)
            .query(&[("pageSize", DISCOVERY_PAGE_SIZE)])
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        if !status.is_success() {
            return Err(SetupError::Status { url, status });
        }
        let body = response.bytes().await.map_err(unreachable)?;
        match Catalog::from_listing(&body) {
            Ok(Some(catalog)) => Ok(catalog),
            Ok(None) => Err(SetupError::EmptyCatalog { url }),
            Err(e) => Err(SetupError::Body {
                url,
                reason: e.to_string(),
            }),
        }
    }

    pub async fn register(&self, email: &str) -> Step {
        let request = self
            .client
            .post(self.url("/api/users/register"))
            .json(&json!({
                "email": email,
                "password": PASSWORD,
                "name": "Load Generator",
            }));
        let answer = send(request).await;
        Step {
            outcome: answer.outcome,
            retry_after: answer.retry_after,
            token: None,
        }
    }

    /// Logs in; the token comes back only when the outcome is `Ok`.
    pub async fn login(&self, email: &str) -> Step {
        let request = self
            .client
            .post(self.url("/api/users/login"))
            .json(&json!({"email": email, "password": PASSWORD}));
        let answer = send(request).await;
        let (outcome, token) = match answer.parse::<LoginAnswer>() {
            Ok(Some(login)) => (Outcome::Ok, Some(login.token)),
            Ok(None) => (answer.outcome, None),
            Err(outcome) => (outcome, None),
        };
        Step {
            outcome,
            retry_after: answer.retry_after,
            token,
        }
    }
}

/// The result of a register or login request.
#[derive(Debug)]
pub struct Step {
    pub outcome: Outcome,
    /// The server's `Retry-After` (in seconds) on a 429, which setup waits out.
    pub retry_after: Option<Duration>,
    /// The session token, from a successful login only.
    pub token: Option<String>,
}

/// What a user believes is in its cart, so a checkout knows when it must add an item first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CartState {
    Empty,
    NotEmpty,
    Unknown,
}

/// One logged-in virtual user.
pub struct Session {
    target: Arc<Target>,
    catalog: Arc<Catalog>,
    card: Card,
    token: String,
    rng: StdRng,
    cart: CartState,
}

impl Session {
    /// A freshly registered user's cart is empty.
    pub fn new(
        target: Arc<Target>,
        catalog: Arc<Catalog>,
        card: Card,
        token: String,
        rng: StdRng,
    ) -> Session {
        Session {
            target,
            catalog,
            card,
            token,
            rng,
            cart: CartState::Empty,
        }
    }

    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    pub async fn perform(&mut self, op: Operation) -> Outcome {
        match op {
            Operation::Browse => self.browse().await,
            Operation::ViewCart => self.view_cart().await,
            Operation::AddToCart => self.add_to_cart().await,
            Operation::Checkout => self.checkout().await,
            // Setup steps are run by the caller before the loop; the mix never yields them.
            Operation::Register | Operation::Login => {
                Outcome::Failed(Failure::Transport(TransportKind::Other))
            }
        }
    }

    fn get(&self, path: &str) -> RequestBuilder {
        self.target
            .client
            .get(self.target.url(path))
            .bearer_auth(&self.token)
    }

    fn post(&self, path: &str) -> RequestBuilder {
        self.target
            .client
            .post(self.target.url(path))
            .bearer_auth(&self.token)
    }

    async fn browse(&mut self) -> Outcome {
        let query = browse_query(&self.catalog, &mut self.rng);
        let answer = send(self.get("/api/products").query(&query)).await;
        let page = match answer.parse::<ProductList>() {
            Ok(Some(page)) => page,
            Ok(None) | Err(_) => return answer.outcome_or_body_error(),
        };
        if !self.rng.random_bool(OPEN_PRODUCT_SHARE) {
            return Outcome::Ok;
        }
        // Open a product the shopper just saw; an empty result page falls back to any product.
        let id = match pick(&page.items, &mut self.rng) {
            Some(item) => item.id.clone(),
            None => self.catalog.random_product(&mut self.rng).to_string(),
        };
        send(self.get(&format!("/api/products/{id}"))).await.outcome
    }

    async fn view_cart(&mut self) -> Outcome {
        let answer = send(self.get("/api/cart")).await;
        self.note_cart(&answer)
    }

    async fn add_to_cart(&mut self) -> Outcome {
        let product = self.catalog.random_product(&mut self.rng).to_string();
        let quantity = self.rng.random_range(1..=2u32);
        let request = self
            .post("/api/cart/items")
            .json(&json!({"productId": product, "quantity": quantity}));
        let answer = send(request).await;
        self.note_cart(&answer)
    }

    fn note_cart(&mut self, answer: &Answer) -> Outcome {
        match answer.parse::<CartView>() {
            Ok(Some(cart)) => {
                self.cart = if cart.item_count == 0 {
                    CartState::Empty
                } else {
                    CartState::NotEmpty
                };
                Outcome::Ok
            }
            Ok(None) => answer.outcome,
            Err(outcome) => {
                self.cart = CartState::Unknown;
                outcome
            }
        }
    }

    async fn checkout(&mut self) -> Outcome {
        if self.cart == CartState::Empty {
            let added = self.add_to_cart().await;
            if added != Outcome::Ok {
                return added;
            }
        }
        let key = uuid::Uuid::new_v4().to_string();
        let request = self
            .post("/api/orders")
            .header("Idempotency-Key", key)
            .json(&json!({"payment": self.card}));
        let answer = send(request).await;
        match answer.outcome {
            Outcome::Ok => {
                // A paid order empties the cart it was made from.
                self.cart = CartState::Empty;
                Outcome::Ok
            }
            Outcome::Expected(409) => {
                // Out of stock: a real shopper gives up on this cart rather than retrying it
                // forever, so the user clears it and the next checkout starts afresh.
                let cleared = send(
                    self.target
                        .client
                        .delete(self.target.url("/api/cart"))
                        .bearer_auth(&self.token),
                )
                .await;
                self.cart = if cleared.outcome == Outcome::Ok {
                    CartState::Empty
                } else {
                    CartState::Unknown
                };
                if cleared.outcome.is_failure() {
                    cleared.outcome
                } else {
                    answer.outcome
                }
            }
            other => other,
        }
    }
}

/// One request's result: its outcome and, when it succeeded, its body.
struct Answer {
    outcome: Outcome,
    /// Kept only on success, and parsed only by the operations that need it.
    body: Option<Vec<u8>>,
    retry_after: Option<Duration>,
}

impl Answer {
    /// The successful body as `T`: `Ok(None)` when the request did not succeed, `Err` with a
    /// body error when it succeeded with something else than `T`.
    fn parse<T: DeserializeOwned>(&self) -> Result<Option<T>, Outcome> {
        match (&self.outcome, &self.body) {
            (Outcome::Ok, Some(body)) => serde_json::from_slice(body)
                .map(Some)
                .map_err(|_| Outcome::Failed(Failure::Transport(TransportKind::Body))),
            _ => Ok(None),
        }
    }

    fn outcome_or_body_error(&self) -> Outcome {
        match self.outcome {
            Outcome::Ok => Outcome::Failed(Failure::Transport(TransportKind::Body)),
            other => other,
        }
    }
}

async fn send(request: RequestBuilder) -> Answer {
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) => {
            return Answer {
                outcome: Outcome::Failed(Failure::Transport(transport_kind(&e))),
                body: None,
                retry_after: None,
            };
        }
    };
    let outcome = Outcome::from_status(response.status().as_u16());
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    // The body is read whatever the status so the connection goes back to the pool.
    match response.bytes().await {
        Ok(body) => Answer {
            outcome,
            body: (outcome == Outcome::Ok).then(|| body.to_vec()),
            retry_after,
        },
        Err(e) => Answer {
            outcome: Outcome::Failed(Failure::Transport(transport_kind(&e))),
            body: None,
            retry_after,
        },
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

fn transport_kind(error: &reqwest::Error) -> TransportKind {
    if error.is_timeout() {
        TransportKind::Timeout
    } else if error.is_connect() {
        TransportKind::Connect
    } else if error.is_body() || error.is_decode() {
        TransportKind::Body
    } else {
        TransportKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn listing() -> Vec<u8> {
        serde_json::to_vec(&json!({
            "items": [
                {"id": "a", "name": "AeroPress Coffee Maker", "category": "kitchen"},
                {"id": "b", "name": "Wool Socks", "category": "apparel"},
                {"id": "c", "name": "Chef's Knife", "category": "kitchen"},
            ],
            "total": 45, "page": 1, "pageSize": 100,
        }))
        .unwrap()
    }

    #[test]
    fn the_first_listing_gives_ids_categories_words_and_pages() {
        let catalog = Catalog::from_listing(&listing()).unwrap().unwrap();
        assert_eq!(catalog.product_ids, ["a", "b", "c"]);
        assert_eq!(catalog.categories, ["apparel", "kitchen"]);
        assert_eq!(
            catalog.search_terms,
            [
                "aeropress",
                "chef's",
                "coffee",
                "knife",
                "maker",
                "socks",
                "wool"
            ]
        );
        assert_eq!(catalog.pages, 3);
    }

    #[test]
    fn an_empty_listing_is_no_catalog_and_garbage_is_an_error() {
        assert_eq!(
            Catalog::from_listing(br#"{"items": [], "total": 0}"#).unwrap(),
            None
        );
        assert!(Catalog::from_listing(b"<html>").is_err());
    }

    #[test]
    fn browse_queries_use_only_what_the_catalog_offers() {
        let catalog = Catalog::from_listing(&listing()).unwrap().unwrap();
        let mut rng = StdRng::seed_from_u64(11);
        let (mut categories, mut searches, mut pages) = (0, 0, 0);
        for _ in 0..1000 {
            let query = browse_query(&catalog, &mut rng);
            assert!(query.contains(&("pageSize", "20".to_string())));
            for (key, value) in &query {
                match *key {
                    "sort" => assert!(SORTS.contains(&value.as_str())),
                    "category" => {
                        categories += 1;
                        assert!(catalog.categories.contains(value));
                    }
                    "q" => {
                        searches += 1;
                        assert!(catalog.search_terms.contains(value));
                    }
                    "page" => {
                        pages += 1;
                        let page: u64 = value.parse().unwrap();
                        assert!((1..=3).contains(&page));
                    }
                    "pageSize" => {}
                    other => panic!("unexpected parameter {other}"),
                }
            }
        }
        assert!(
            categories > 200 && searches > 100 && pages > 400,
            "{categories} {searches} {pages}"
        );
    }

    #[test]
    fn card_debug_hides_all_but_the_last_four_digits() {
        let card = Card {
            number: "4242424242424242".into(),
            exp_month: 12,
            exp_year: 2030,
            cvc: "123".into(),
        };
        let debug = format!("{card:?}");
        assert!(
            debug.contains("4242") && !debug.contains("42424242"),
            "{debug}"
        );
        assert_eq!(
            serde_json::to_value(&card).unwrap(),
            json!({"cardNumber": "4242424242424242", "expMonth": 12, "expYear": 2030, "cvc": "123"})
        );
    }
}
