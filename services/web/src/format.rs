//! Pure presentation rules: money as people read it, page arithmetic, stock and order-status
//! wording. No I/O, so every rule here is pinned by a plain `#[test]`.

use storefront_common::money::Money;

/// `Money` as a shopper reads it: `$34.95`, `€8.00`, `-$1.50`; unknown currencies get their
/// code as a suffix (`12.00 CHF`). Minor units are assumed to be hundredths, as for every
/// currency the demo shop sells in.
pub fn price(money: &Money) -> String {
    let sign = if money.amount < 0 { "-" } else { "" };
    let abs = money.amount.unsigned_abs();
    let units = group_thousands(abs / 100);
    let cents = abs % 100;
    match symbol(money.currency.as_str()) {
        Some(symbol) => format!("{sign}{symbol}{units}.{cents:02}"),
        None => format!("{sign}{units}.{cents:02} {}", money.currency),
    }
}

fn symbol(code: &str) -> Option<&'static str> {
    match code {
        "USD" => Some("$"),
        "EUR" => Some("€"),
        "GBP" => Some("£"),
        _ => None,
    }
}

fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Where a listing page sits among all pages of results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub page: u32,
    pub pages: u32,
}

impl Paging {
    /// `total` results shown `page_size` at a time; an empty result is still "page 1 of 1" so
    /// the page never says "page 1 of 0".
    pub fn new(page: u32, page_size: u32, total: u64) -> Self {
        let size = u64::from(page_size.max(1));
        let pages = total.div_ceil(size).max(1);
        let pages = u32::try_from(pages).unwrap_or(u32::MAX);
        Self {
            page: page.clamp(1, pages),
            pages,
        }
    }

    pub fn prev(&self) -> Option<u32> {
        (self.page > 1).then(|| self.page - 1)
    }

    pub fn next(&self) -> Option<u32> {
        (self.page < self.pages).then(|| self.page + 1)
    }
}

/// At or below this many units the product page names the exact count: few left is the moment
/// a shopper decides.
pub const LOW_STOCK: i64 = 5;

/// How the product page describes stock: "In stock", "Only 3 left", "Out of stock".
pub fn stock_sentence(available: i64) -> String {
    match available {
        i64::MIN..=0 => "Out of stock".to_string(),
        1..=LOW_STOCK => format!("Only {available} left"),
        _ => "In stock".to_string(),
    }
}

/// The label and CSS modifier of an order status badge.
/// Why an order failed, in words for the shopper (the API gives a code).
pub fn failure_reason(code: &str) -> String {
    match code {
        "card_declined" => "The card was declined; no money was taken.".into(),
        "insufficient_funds" => {
            "The card was declined for insufficient funds; no money was taken.".into()
        }
        "out_of_stock" => "Some items were out of stock; nothing was charged.".into(),
        "reservation_expired" => {
            "The items were held too long before payment completed; the charge was refunded.".into()
        }
        "abandoned" => "The order could not be completed; no money was taken.".into(),
        other => other.replace('_', " "),
    }
}

pub fn status_badge(status: &str) -> (&'static str, &'static str) {
    match status {
        "pending" => ("Pending", "pending"),
        "paid" => ("Paid", "paid"),
        "shipped" => ("Shipped", "shipped"),
        "delivered" => ("Delivered", "delivered"),
        "failed" => ("Failed", "failed"),
        "cancelled" => ("Cancelled", "cancelled"),
        _ => ("Unknown", "unknown"),
    }
}

/// A timestamp from the API (RFC 3339) as a short date; the raw text when it does not parse, so
/// a format change upstream degrades the page instead of breaking it.
pub fn date(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|d| {
            d.with_timezone(&chrono::Utc)
                .format("%b %-d, %Y %H:%M UTC")
                .to_string()
        })
        .unwrap_or_else(|_| rfc3339.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_codes_read_as_sentences() {
        assert!(failure_reason("card_declined").starts_with("The card was declined"));
        assert_eq!(failure_reason("something_new"), "something new");
    }
    use storefront_common::money::Currency;

    fn usd(amount: i64) -> Money {
        Money::new(amount, Currency::USD)
    }

    #[test]
    fn price_formats_minor_units_with_symbol() {
        assert_eq!(price(&usd(3495)), "$34.95");
        assert_eq!(price(&usd(5)), "$0.05");
        assert_eq!(price(&usd(0)), "$0.00");
        assert_eq!(price(&usd(-150)), "-$1.50");
    }

    #[test]
    fn price_groups_thousands() {
        assert_eq!(price(&usd(123_456_789)), "$1,234,567.89");
        assert_eq!(price(&usd(100_000)), "$1,000.00");
        assert_eq!(price(&usd(99_999)), "$999.99");
    }

    #[test]
    fn price_in_unknown_currency_names_the_code() {
        let chf = Currency::try_from("CHF").unwrap();
        assert_eq!(price(&Money::new(1200, chf)), "12.00 CHF");
    }

    #[test]
    fn paging_counts_partial_last_page() {
        let p = Paging::new(1, 20, 41);
        assert_eq!(p.pages, 3);
        assert_eq!(p.prev(), None);
        assert_eq!(p.next(), Some(2));
        let last = Paging::new(3, 20, 41);
        assert_eq!(last.prev(), Some(2));
        assert_eq!(last.next(), None);
    }

    #[test]
    fn paging_of_nothing_is_one_page() {
        let p = Paging::new(1, 20, 0);
        assert_eq!((p.page, p.pages), (1, 1));
        assert_eq!((p.prev(), p.next()), (None, None));
    }

    #[test]
    fn paging_clamps_page_out_of_range() {
        assert_eq!(Paging::new(9, 10, 25).page, 3);
        assert_eq!(Paging::new(0, 10, 25).page, 1);
        assert_eq!(
            Paging::new(1, 0, 3).pages,
            3,
            "a zero page size counts as one"
        );
    }

    #[test]
    fn stock_wording_names_low_counts() {
        assert_eq!(stock_sentence(0), "Out of stock");
        assert_eq!(stock_sentence(-2), "Out of stock");
        assert_eq!(stock_sentence(3), "Only 3 left");
        assert_eq!(stock_sentence(LOW_STOCK), "Only 5 left");
        assert_eq!(stock_sentence(LOW_STOCK + 1), "In stock");
    }

    #[test]
    fn status_badges_cover_every_order_status() {
        for s in [
            "pending",
            "paid",
            "shipped",
            "delivered",
            "failed",
            "cancelled",
        ] {
            assert_eq!(status_badge(s).1, s);
        }
        assert_eq!(status_badge("weird"), ("Unknown", "unknown"));
    }

    #[test]
    fn dates_are_short_and_tolerate_bad_input() {
        assert_eq!(date("2024-03-05T14:07:00Z"), "Mar 5, 2024 14:07 UTC");
        assert_eq!(date("2024-03-05T16:07:00+02:00"), "Mar 5, 2024 14:07 UTC");
        assert_eq!(date("not a date"), "not a date");
    }
}
