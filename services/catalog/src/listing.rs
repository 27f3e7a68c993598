//! The query of `GET /api/products`: raw parameters in, a checked and normalised [`ListQuery`]
//! out. Malformed values (an unknown sort, a bad id) are 400; well-formed values out of range
//! (page 0, min above max) are 422. A normalised query is also the cache key of its page, so two
//! spellings of the same request share one cache entry.

use serde::{Deserialize, Serialize};
use storefront_common::ApiError;
use storefront_common::ids::ProductId;

use crate::product::Product;

pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;
pub const MAX_IDS: usize = 100;
pub const MAX_SEARCH_CHARS: usize = 200;
/// Deep enough for any real catalog; bounds the OFFSET so it cannot overflow.
pub const MAX_PAGE: u32 = 100_000;

/// The parameters as sent; numbers that do not parse are rejected by the extractor (400).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawListQuery {
    pub q: Option<String>,
    pub category: Option<String>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub sort: Option<String>,
    pub page: Option<i64>,
    pub page_size: Option<i64>,
    pub ids: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Sort {
    Newest,
    PriceAscending,
    PriceDescending,
    NameAscending,
    NameDescending,
}

impl Sort {
    fn parse(s: &str) -> Option<Sort> {
        Some(match s {
            "newest" => Sort::Newest,
            "price" => Sort::PriceAscending,
            "-price" => Sort::PriceDescending,
            "name" => Sort::NameAscending,
            "-name" => Sort::NameDescending,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListQuery {
    pub search: Option<String>,
    pub category: Option<String>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub sort: Sort,
    pub page: u32,
    pub page_size: u32,
    /// Sorted and without duplicates.
    pub ids: Option<Vec<ProductId>>,
}

impl ListQuery {
    pub fn offset(&self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.page_size)
    }
}

/// One page of products, as `GET /api/products` answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductPage {
    pub items: Vec<Product>,
    pub total: i64,
    pub page: u32,
    pub page_size: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListQueryError {
    #[error("sort {0:?} is not one of newest, price, -price, name, -name")]
    UnknownSort(String),
    #[error("ids must be comma-separated product ids; {0:?} is not a UUID")]
    BadId(String),
    #[error("ids may list at most {MAX_IDS} products")]
    TooManyIds,
    #[error("page must be between 1 and {MAX_PAGE}")]
    Page,
    #[error("pageSize must be between 1 and {MAX_PAGE_SIZE}")]
    PageSize,
    #[error("minPrice and maxPrice must not be negative")]
    NegativePrice,
    #[error("minPrice must not be greater than maxPrice")]
    MinAboveMax,
    #[error("q must be at most {MAX_SEARCH_CHARS} characters")]
    SearchTooLong,
}

impl From<ListQueryError> for ApiError {
    fn from(err: ListQueryError) -> Self {
        match err {
            ListQueryError::UnknownSort(_) | ListQueryError::BadId(_) => {
                ApiError::bad_request("bad_query", err.to_string())
            }
            _ => ApiError::validation(err.to_string()),
        }
    }
}

/// Blank parameters count as absent, so `?q=&category=` lists everything.
fn present(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

impl TryFrom<RawListQuery> for ListQuery {
    type Error = ListQueryError;

    fn try_from(raw: RawListQuery) -> Result<Self, ListQueryError> {
        let sort = match present(raw.sort) {
            None => Sort::Newest,
            Some(s) => Sort::parse(&s).ok_or(ListQueryError::UnknownSort(s))?,
        };
        let ids = present(raw.ids).map(|s| parse_ids(&s)).transpose()?;
        let page = raw.page.unwrap_or(1);
        let page = u32::try_from(page)
            .ok()
            .filter(|p| (1..=MAX_PAGE).contains(p))
            .ok_or(ListQueryError::Page)?;
        let page_size = raw.page_size.unwrap_or(i64::from(DEFAULT_PAGE_SIZE));
        let page_size = u32::try_from(page_size)
            .ok()
            .filter(|p| (1..=MAX_PAGE_SIZE).contains(p))
            .ok_or(ListQueryError::PageSize)?;
        if raw.min_price.is_some_and(|p| p < 0) || raw.max_price.is_some_and(|p| p < 0) {
            return Err(ListQueryError::NegativePrice);
        }
        if let (Some(min), Some(max)) = (raw.min_price, raw.max_price)
            && min > max
        {
            return Err(ListQueryError::MinAboveMax);
        }
        let search = present(raw.q);
        if search
            .as_ref()
            .is_some_and(|s| s.chars().count() > MAX_SEARCH_CHARS)
        {
            return Err(ListQueryError::SearchTooLong);
        }
        Ok(ListQuery {
            search,
            // Categories are stored lower-case; accept `?category=Books` as well.
            category: present(raw.category).map(|c| c.to_lowercase()),
            min_price: raw.min_price,
            max_price: raw.max_price,
            sort,
            page,
            page_size,
            ids,
        })
    }
}

fn parse_ids(s: &str) -> Result<Vec<ProductId>, ListQueryError> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    if parts.len() > MAX_IDS {
        return Err(ListQueryError::TooManyIds);
    }
    let mut ids = parts
        .into_iter()
        .map(|p| p.parse().map_err(|_| ListQueryError::BadId(p.to_string())))
        .collect::<Result<Vec<ProductId>, _>>()?;
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// Escapes `\`, `%` and `_` so user text matches literally inside `ILIKE ... ESCAPE '\'`.
pub fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: RawListQuery) -> Result<ListQuery, ListQueryError> {
        ListQuery::try_from(raw)
    }

    #[test]
    fn defaults_are_newest_first_page_of_twenty() {
        let q = parse(RawListQuery::default()).unwrap();
        assert_eq!(
            (q.sort, q.page, q.page_size, q.offset()),
            (Sort::Newest, 1, 20, 0)
        );
    }

    #[test]
    fn offset_grows_with_page() {
        let q = parse(RawListQuery {
            page: Some(3),
            page_size: Some(10),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(q.offset(), 20);
    }

    #[test]
    fn unknown_sort_is_a_bad_request() {
        let err = parse(RawListQuery {
            sort: Some("cheapest".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(ApiError::from(err).status, 400);
    }

    #[test]
    fn out_of_range_paging_is_a_validation_error() {
        for (page, size) in [(0, 20), (-1, 20), (1, 0), (1, 101), (i64::MAX, 20)] {
            let err = parse(RawListQuery {
                page: Some(page),
                page_size: Some(size),
                ..Default::default()
            })
            .unwrap_err();
            assert_eq!(ApiError::from(err).status, 422, "{page} {size}");
        }
    }

    #[test]
    fn price_range_must_be_ordered_and_non_negative() {
        let range = |min, max| {
            parse(RawListQuery {
                min_price: min,
                max_price: max,
                ..Default::default()
            })
        };
        assert_eq!(range(Some(5), Some(4)), Err(ListQueryError::MinAboveMax));
        assert_eq!(range(Some(-1), None), Err(ListQueryError::NegativePrice));
        assert!(range(Some(4), Some(4)).is_ok());
    }

    #[test]
    fn ids_are_parsed_sorted_and_deduplicated() {
        let a = ProductId::new();
        let b = ProductId::new();
        let q = parse(RawListQuery {
            ids: Some(format!("{b}, {a},{b}")),
            ..Default::default()
        })
        .unwrap();
        let mut expected = vec![a, b];
        expected.sort();
        assert_eq!(q.ids, Some(expected));
    }

    #[test]
    fn a_malformed_id_is_named_in_the_error() {
        let err = parse(RawListQuery {
            ids: Some(format!("{},nope", ProductId::new())),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(err, ListQueryError::BadId("nope".into()));
    }

    #[test]
    fn more_than_a_hundred_ids_are_refused() {
        let ids: Vec<String> = (0..=MAX_IDS)
            .map(|_| ProductId::new().to_string())
            .collect();
        let err = parse(RawListQuery {
            ids: Some(ids.join(",")),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(err, ListQueryError::TooManyIds);
    }

    #[test]
    fn blank_parameters_are_ignored_and_category_is_lower_cased() {
        let q = parse(RawListQuery {
            q: Some("  ".into()),
            category: Some("Books".into()),
            sort: Some(String::new()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(q.search, None);
        assert_eq!(q.category.as_deref(), Some("books"));
        assert_eq!(q.sort, Sort::Newest);
    }

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(escape_like(r"50%_off\"), r"50\%\_off\\");
        assert_eq!(escape_like("plain"), "plain");
    }
}
