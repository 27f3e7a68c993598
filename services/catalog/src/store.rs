//! The products table: every SQL statement of the catalog. Deleted products (`deleted_at` set)
//! are invisible to every read and every write here; the only code that sees them is the seed,
//! which must not bring them back.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, QueryBuilder};
use storefront_common::ApiError;
use storefront_common::ids::ProductId;
use storefront_common::money::{Currency, Money};
use uuid::Uuid;

use crate::listing::{ListQuery, ProductPage, Sort, escape_like};
use crate::product::{Product, ValidProduct};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("product {id} has currency {currency:?} in the database, which is not an ISO code")]
    BadStoredCurrency { id: ProductId, currency: String },
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Db(e) => e.into(),
            other => ApiError::internal(other),
        }
    }
}

/// A category and how many live products it holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CategoryCount {
    pub name: String,
    pub count: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: ProductId,
    name: String,
    description: String,
    category: String,
    price_amount: i64,
    currency: String,
    image_url: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<Row> for Product {
    type Error = StoreError;
    fn try_from(row: Row) -> Result<Self, StoreError> {
        let currency = Currency::try_from(row.currency.as_str()).map_err(|_| {
            StoreError::BadStoredCurrency {
                id: row.id,
                currency: row.currency.clone(),
            }
        })?;
        Ok(Product {
            id: row.id,
            name: row.name,
            description: row.description,
            category: row.category,
            price: Money::new(row.price_amount, currency),
            image_url: row.image_url,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

const COLUMNS: &str =
    "id, name, description, category, price_amount, currency, image_url, created_at, updated_at";

#[derive(Clone)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn list(&self, query: &ListQuery) -> Result<ProductPage, StoreError> {
        let mut count = QueryBuilder::<Postgres>::new("SELECT count(*) FROM products");
        push_filters(&mut count, query);
        let total: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;

        let mut select = QueryBuilder::<Postgres>::new(format!("SELECT {COLUMNS} FROM products"));
        push_filters(&mut select, query);
        // Every order ends with the id so that pages never overlap or skip rows on ties.
        select.push(match query.sort {
            Sort::Newest => " ORDER BY created_at DESC, id DESC",
            Sort::PriceAscending => " ORDER BY price_amount ASC, id ASC",
            Sort::PriceDescending => " ORDER BY price_amount DESC, id DESC",
            Sort::NameAscending => " ORDER BY lower(name) ASC, id ASC",
            Sort::NameDescending => " ORDER BY lower(name) DESC, id DESC",
        });
        select
            .push(" LIMIT ")
            .push_bind(i64::from(query.page_size))
            .push(" OFFSET ")
            .push_bind(query.offset());
        let rows: Vec<Row> = select.build_query_as().fetch_all(&self.pool).await?;
        Ok(ProductPage {
            items: rows
                .into_iter()
                .map(Product::try_from)
                .collect::<Result<_, _>>()?,
            total,
            page: query.page,
            page_size: query.page_size,
        })
    }

    pub async fn categories(&self) -> Result<Vec<CategoryCount>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT category, count(*) FROM products WHERE deleted_at IS NULL \
             GROUP BY category ORDER BY category",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(name, count)| CategoryCount { name, count })
            .collect())
    }

    pub async fn get(&self, id: ProductId) -> Result<Option<Product>, StoreError> {
        let row: Option<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM products WHERE id = $1 AND deleted_at IS NULL"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(Product::try_from).transpose()
    }

    pub async fn create(&self, product: &ValidProduct) -> Result<Product, StoreError> {
        let row: Row = sqlx::query_as(&format!(
            "INSERT INTO products (id, name, description, category, price_amount, currency, image_url) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
        ))
        .bind(ProductId::new())
        .bind(&product.name)
        .bind(&product.description)
        .bind(&product.category)
        .bind(product.price.amount)
        .bind(product.price.currency.as_str())
        .bind(&product.image_url)
        .fetch_one(&self.pool)
        .await?;
        row.try_into()
    }

    /// Replaces every field; `None` when there is no live product with that id.
    pub async fn update(
        &self,
        id: ProductId,
        product: &ValidProduct,
    ) -> Result<Option<Product>, StoreError> {
        let row: Option<Row> = sqlx::query_as(&format!(
            "UPDATE products SET name = $2, description = $3, category = $4, price_amount = $5, \
             currency = $6, image_url = $7, updated_at = now() \
             WHERE id = $1 AND deleted_at IS NULL RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(&product.name)
        .bind(&product.description)
        .bind(&product.category)
        .bind(product.price.amount)
        .bind(product.price.currency.as_str())
        .bind(&product.image_url)
        .fetch_optional(&self.pool)
        .await?;
        row.map(Product::try_from).transpose()
    }

    /// Soft-deletes; false when there was no live product with that id.
    pub async fn delete(&self, id: ProductId) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE products SET deleted_at = now(), updated_at = now() \
             WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

fn push_filters(qb: &mut QueryBuilder<'_, Postgres>, query: &ListQuery) {
    qb.push(" WHERE deleted_at IS NULL");
    if let Some(search) = &query.search {
        let pattern = format!("%{}%", escape_like(search));
        qb.push(" AND (name ILIKE ")
            .push_bind(pattern.clone())
            .push(r" ESCAPE '\' OR description ILIKE ")
            .push_bind(pattern)
            .push(r" ESCAPE '\')");
    }
    if let Some(category) = &query.category {
        qb.push(" AND category = ").push_bind(category.clone());
    }
    if let Some(min) = query.min_price {
        qb.push(" AND price_amount >= ").push_bind(min);
    }
    if let Some(max) = query.max_price {
        qb.push(" AND price_amount <= ").push_bind(max);
    }
    if let Some(ids) = &query.ids {
        let ids: Vec<Uuid> = ids.iter().map(|id| id.0).collect();
        qb.push(" AND id = ANY(").push_bind(ids).push(")");
    }
}
