//! The public API of the whole platform as an OpenAPI 3.0 document, checked in beside the crate
//! (`openapi.json`) and embedded at compile time, served at `GET /api/openapi.json`. Tests pin
//! that it parses and that every path in it is routed by the gateway to the right backend.

use axum::http::header;
use axum::response::IntoResponse;

pub const DOCUMENT: &str = include_str!("../openapi.json");

pub async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::{Backend, resolve};
    use axum::http::Method;
    use serde_json::Value;

    fn document() -> Value {
        serde_json::from_str(DOCUMENT).expect("openapi.json is valid JSON")
    }

    fn concrete(template: &str) -> String {
        template
            .split('/')
            .map(|s| if s.starts_with('{') { "x1" } else { s })
            .collect::<Vec<_>>()
            .join("/")
    }

    #[test]
    fn document_is_openapi_3_with_bearer_security_and_an_error_schema() {
        let doc = document();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let scheme = &doc["components"]["securitySchemes"]["bearerAuth"];
        assert_eq!(scheme["scheme"], "bearer");
        assert_eq!(scheme["bearerFormat"], "JWT");
        assert!(doc["components"]["schemas"]["Error"]["properties"]["error"].is_object());
    }

    #[test]
    fn every_reference_resolves() {
        fn walk(value: &Value, doc: &Value) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(target)) = map.get("$ref") {
                        let pointer = target.trim_start_matches('#');
                        assert!(doc.pointer(pointer).is_some(), "dangling {target}");
                    }
                    map.values().for_each(|v| walk(v, doc));
                }
                Value::Array(items) => items.iter().for_each(|v| walk(v, doc)),
                _ => {}
            }
        }
        let doc = document();
        walk(&doc, &doc);
    }

    #[test]
    fn every_documented_path_is_routed_to_the_backend_of_its_prefix() {
        let doc = document();
        for (template, operations) in doc["paths"].as_object().unwrap() {
            if template == "/api/openapi.json" {
                continue;
            }
            for method in operations.as_object().unwrap().keys() {
                let method: Method = method.to_uppercase().parse().unwrap();
                let target = resolve(&method, &concrete(template))
                    .unwrap_or_else(|e| panic!("{method} {template}: {e}"));
                let prefix = target.backend.prefix().unwrap_or("<web>");
                assert!(template.starts_with(prefix), "{template} went to {prefix}");
                assert_ne!(target.backend, Backend::Web);
                // The document's security must agree with what the gateway enforces.
                let secured = operations[method.as_str().to_lowercase()]["security"]
                    .as_array()
                    .is_some_and(|s| !s.is_empty());
                assert_eq!(secured, !target.public, "{method} {template}");
            }
        }
    }

    #[test]
    fn every_public_route_of_the_contract_is_documented_with_error_answers() {
        let doc = document();
        let contract = [
            ("post", "/api/users/register"),
            ("post", "/api/users/login"),
            ("post", "/api/users/logout"),
            ("get", "/api/users/profile"),
            ("put", "/api/users/profile"),
            ("get", "/api/products"),
            ("get", "/api/products/categories"),
            ("get", "/api/products/{id}"),
            ("post", "/api/products"),
            ("put", "/api/products/{id}"),
            ("delete", "/api/products/{id}"),
            ("get", "/api/cart"),
            ("post", "/api/cart/items"),
            ("put", "/api/cart/items/{productId}"),
            ("delete", "/api/cart/items/{productId}"),
            ("delete", "/api/cart"),
            ("post", "/api/orders"),
            ("get", "/api/orders"),
            ("get", "/api/orders/{id}"),
            ("get", "/api/orders/user/{userId}"),
            ("put", "/api/orders/{id}/status"),
            ("post", "/api/orders/{id}/cancel"),
            ("post", "/api/payments"),
            ("get", "/api/payments/{orderId}"),
            ("get", "/api/inventory/{productId}"),
            ("put", "/api/inventory/{productId}"),
            ("get", "/api/notifications"),
            ("post", "/api/notifications/{id}/read"),
        ];
        for (method, path) in contract {
            let operation = &doc["paths"][path][method];
            assert!(operation.is_object(), "{method} {path} is missing");
            let responses = operation["responses"].as_object().unwrap();
            for status in ["429", "503"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} lacks {status}"
                );
            }
        }
    }
}
