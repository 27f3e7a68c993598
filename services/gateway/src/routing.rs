//! Which backend a request goes to and what the edge must do with it: pure functions of method
//! and path. Invariants: `/internal` is never routed; a path with dot segments or backslashes is
//! refused before anything else, because the outgoing URL parser would resolve `..` and could
//! reach a route we meant to hide; only the routes listed in [`is_public`] go without a token.

use axum::http::Method;

/// A service behind the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    Users,
    Catalog,
    Cart,
    Orders,
    Payments,
    Inventory,
    Notifications,
    Web,
}

impl Backend {
    pub const ALL: [Backend; 8] = [
        Backend::Users,
        Backend::Catalog,
        Backend::Cart,
        Backend::Orders,
        Backend::Payments,
        Backend::Inventory,
        Backend::Notifications,
        Backend::Web,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Backend::Users => "users",
            Backend::Catalog => "catalog",
            Backend::Cart => "cart",
            Backend::Orders => "orders",
            Backend::Payments => "payments",
            Backend::Inventory => "inventory",
            Backend::Notifications => "notifications",
            Backend::Web => "web",
        }
    }

    /// The environment variable holding the backend's base URL.
    pub fn url_variable(self) -> &'static str {
        match self {
            Backend::Users => "USERS_URL",
            Backend::Catalog => "CATALOG_URL",
            Backend::Cart => "CART_URL",
            Backend::Orders => "ORDERS_URL",
            Backend::Payments => "PAYMENTS_URL",
            Backend::Inventory => "INVENTORY_URL",
            Backend::Notifications => "NOTIFICATIONS_URL",
            Backend::Web => "WEB_URL",
        }
    }

    /// The path prefix served by the backend, `None` for the web front (everything else).
    pub fn prefix(self) -> Option<&'static str> {
        match self {
            Backend::Users => Some("/api/users"),
            Backend::Catalog => Some("/api/products"),
            Backend::Cart => Some("/api/cart"),
            Backend::Orders => Some("/api/orders"),
            Backend::Payments => Some("/api/payments"),
            Backend::Inventory => Some("/api/inventory"),
            Backend::Notifications => Some("/api/notifications"),
            Backend::Web => None,
        }
    }
}

/// What the edge does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub backend: Backend,
    /// No token needed (one is still checked when sent, to pass the caller's identity on).
    pub public: bool,
    /// A catalog read whose 200 answer may be cached (it is the same for every caller).
    pub cacheable: bool,
    /// Idempotent, so a failed attempt may be repeated.
    pub retryable: bool,
    /// Checkout and cancellation run a saga across services and get the long timeout.
    pub long_running: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("no such route")]
    NotRouted,
    #[error("the path has dot segments or backslashes; send a normalised path")]
    UnsafePath,
}

/// Resolves a request path (without the query) to its target.
pub fn resolve(method: &Method, path: &str) -> Result<Target, RouteError> {
    if !is_safe(path) {
        return Err(RouteError::UnsafePath);
    }
    if under(path, "/internal") {
        return Err(RouteError::NotRouted);
    }
    let backend = Backend::ALL
        .into_iter()
        .find(|b| b.prefix().is_some_and(|prefix| under(path, prefix)));
    let backend = match backend {
        Some(backend) => backend,
        // An /api path of no known service is a client mistake, not a page of the web front.
        None if under(path, "/api") => return Err(RouteError::NotRouted),
        None => Backend::Web,
    };
    let read = method == Method::GET || method == Method::HEAD;
    Ok(Target {
        backend,
        public: is_public(backend, method, path),
        cacheable: backend == Backend::Catalog && method == Method::GET,
        retryable: read,
        long_running: backend == Backend::Orders && method == Method::POST,
    })
}

fn is_public(backend: Backend, method: &Method, path: &str) -> bool {
    let read = method == Method::GET || method == Method::HEAD;
    match backend {
        Backend::Users => {
            method == Method::POST && (path == "/api/users/register" || path == "/api/users/login")
        }
        Backend::Catalog | Backend::Inventory => read,
        Backend::Web => true,
        Backend::Cart | Backend::Orders | Backend::Payments | Backend::Notifications => false,
    }
}

/// `path` is `prefix` or below it (`/api/users/x`, not `/api/usersx`).
fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn is_safe(path: &str) -> bool {
    if !path.starts_with('/') || path.contains('\\') {
        return false;
    }
    path.split('/').all(|segment| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        decoded != "."
            && decoded != ".."
            && !segment.to_ascii_lowercase().contains("%2f")
            && !segment.to_ascii_lowercase().contains("%5c")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(path: &str) -> Result<Backend, RouteError> {
        resolve(&Method::GET, path).map(|t| t.backend)
    }

    #[test]
    fn api_prefixes_go_to_their_services_and_the_rest_to_web() {
        assert_eq!(backend("/api/users/profile"), Ok(Backend::Users));
        assert_eq!(backend("/api/products"), Ok(Backend::Catalog));
        assert_eq!(backend("/api/products/categories"), Ok(Backend::Catalog));
        assert_eq!(backend("/api/cart/items/x"), Ok(Backend::Cart));
        assert_eq!(backend("/api/orders/user/u"), Ok(Backend::Orders));
        assert_eq!(backend("/api/payments/o"), Ok(Backend::Payments));
        assert_eq!(backend("/api/inventory/p"), Ok(Backend::Inventory));
        assert_eq!(
            backend("/api/notifications/n/read"),
            Ok(Backend::Notifications)
        );
        assert_eq!(backend("/"), Ok(Backend::Web));
        assert_eq!(backend("/static/app.css"), Ok(Backend::Web));
        assert_eq!(backend("/products/42"), Ok(Backend::Web));
    }

    #[test]
    fn prefixes_match_whole_segments_only() {
        assert_eq!(backend("/api/productsx"), Err(RouteError::NotRouted));
        assert_eq!(backend("/api/nothing"), Err(RouteError::NotRouted));
        assert_eq!(backend("/internalx"), Ok(Backend::Web));
    }

    #[test]
    fn internal_routes_are_never_routed() {
        assert_eq!(backend("/internal"), Err(RouteError::NotRouted));
        assert_eq!(
            backend("/internal/reservations"),
            Err(RouteError::NotRouted)
        );
    }

    #[test]
    fn dot_segments_and_backslashes_are_refused() {
        for path in [
            "/api/products/../../internal/carts/x",
            "/api/products/%2e%2E/internal",
            "/api/products/.",
            "/api/products\\..\\internal",
            "/api/products/a%2Fb",
            "relative",
        ] {
            assert_eq!(backend(path), Err(RouteError::UnsafePath), "{path}");
        }
        assert_eq!(backend("/static/app.min.js"), Ok(Backend::Web));
    }

    #[test]
    fn only_register_login_and_reads_of_catalog_and_inventory_are_public() {
        let public = |m: Method, p: &str| resolve(&m, p).unwrap().public;
        assert!(public(Method::POST, "/api/users/register"));
        assert!(public(Method::POST, "/api/users/login"));
        assert!(!public(Method::POST, "/api/users/logout"));
        assert!(!public(Method::GET, "/api/users/profile"));
        assert!(public(Method::GET, "/api/products/1"));
        assert!(!public(Method::POST, "/api/products"));
        assert!(public(Method::HEAD, "/api/inventory/1"));
        assert!(!public(Method::PUT, "/api/inventory/1"));
        assert!(!public(Method::GET, "/api/cart"));
        assert!(!public(Method::GET, "/api/orders"));
        assert!(!public(Method::GET, "/api/payments/1"));
        assert!(!public(Method::GET, "/api/notifications"));
        assert!(public(Method::POST, "/login"));
    }

    #[test]
    fn only_catalog_gets_are_cacheable_and_only_reads_retryable() {
        let target = |m: Method, p: &str| resolve(&m, p).unwrap();
        assert!(target(Method::GET, "/api/products").cacheable);
        assert!(!target(Method::HEAD, "/api/products").cacheable);
        assert!(!target(Method::GET, "/api/cart").cacheable);
        assert!(!target(Method::GET, "/api/inventory/1").cacheable);
        assert!(target(Method::GET, "/api/cart").retryable);
        assert!(!target(Method::POST, "/api/products").retryable);
        assert!(target(Method::POST, "/api/orders").long_running);
        assert!(!target(Method::GET, "/api/orders").long_running);
    }
}
