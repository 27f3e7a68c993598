//! Loads the demo products (`storefront_common::demo::PRODUCTS`) when `STOREFRONT_SEED_DEMO` is
//! set. Idempotent across restarts and concurrent replicas: rows are keyed by the demo ids and
//! inserted with ON CONFLICT DO NOTHING, so existing rows (edited or soft-deleted ones included)
//! are left alone.

use sqlx::PgPool;
use storefront_common::demo::PRODUCTS;
use storefront_common::money::Currency;

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error(
        "the demo products are priced in USD but CATALOG_CURRENCY is {0}; unset STOREFRONT_SEED_DEMO or set CATALOG_CURRENCY=USD"
    )]
    Currency(Currency),
    #[error("inserting the demo products failed: {0}")]
    Db(#[from] sqlx::Error),
}

/// Inserts the demo products that are absent and returns how many were inserted.
pub async fn demo_products(pool: &PgPool, shop_currency: Currency) -> Result<u64, SeedError> {
    if shop_currency != Currency::USD {
        return Err(SeedError::Currency(shop_currency));
    }
    let mut tx = pool.begin().await?;
    let mut inserted = 0;
    for (position, product) in PRODUCTS.iter().enumerate() {
        // Staggered creation times give "newest" a stable order: the list order of PRODUCTS.
        let age_secs = i32::try_from(position).unwrap_or(i32::MAX);
        let done = sqlx::query(
            "INSERT INTO products (id, name, description, category, price_amount, currency, \
             image_url, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'USD', $6, now() - make_interval(secs => $7), now()) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(product.id())
        .bind(product.name)
        .bind(product.description)
        .bind(product.category)
        .bind(product.price_cents)
        .bind(product.image_url())
        .bind(f64::from(age_secs))
        .execute(&mut *tx)
        .await?;
        inserted += done.rows_affected();
    }
    tx.commit().await?;
    Ok(inserted)
}
