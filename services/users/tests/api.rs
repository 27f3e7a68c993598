//! The users service over real HTTP against a throwaway PostgreSQL and Redis.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use storefront_testkit::app::{TestApp, error_code as code};
use storefront_testkit::{shared_postgres, shared_redis};
use storefront_users::{Config, build};

/// The users app under test.
struct Users(TestApp);

impl std::ops::Deref for Users {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.0
    }
}

async fn start_with(database_url: String, redis_url: String, extra: &[(&str, &str)]) -> Users {
    let app = TestApp::builder("users")
        .database_url(&database_url)
        .redis_url(&redis_url)
        .env("STOREFRONT_MAX_BODY_BYTES", "4096")
        .envs(extra)
        .start(|env| async move { Ok(build(Config::from_source(&env)?).await?) })
        .await;
    Users(app)
}

async fn start() -> Users {
    let db = shared_postgres().create_database("users").await;
    start_with(db, shared_redis().fresh_url(), &[]).await
}

impl Users {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let reply = self.send(method, path, token, body).await;
        (reply.status, reply.body)
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, Some(&body)).await
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::GET, path, token, None).await
    }

    async fn put(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(token), Some(&body)).await
    }

    async fn register(&self, email: &str, password: &str) -> Value {
        let (status, body) = self
            .post(
                "/api/users/register",
                None,
                json!({"email": email, "password": password, "name": "Ada Lovelace"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    async fn login(&self, email: &str, password: &str) -> String {
        let (status, body) = self
            .post(
                "/api/users/login",
                None,
                json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["token"].as_str().unwrap().to_string()
    }
}

#[tokio::test]
async fn register_login_and_read_profile() {
    let users = start().await;
    let registered = users.register("Ada@Example.com", "correct horse").await;
    assert_eq!(registered["email"], "ada@example.com");
    assert_eq!(registered["role"], "customer");
    assert!(registered.get("passwordHash").is_none() && registered.get("password_hash").is_none());

    let (status, login) = users
        .post(
            "/api/users/login",
            None,
            json!({"email": "ada@example.com", "password": "correct horse"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(login["expiresAt"].as_str().unwrap().len() > 10);
    let token = login["token"].as_str().unwrap();

    let (status, profile) = users.get("/api/users/profile", Some(token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(profile["id"], registered["id"]);
    assert_eq!(profile["name"], "Ada Lovelace");
}

#[tokio::test]
async fn registering_the_same_email_twice_is_a_conflict() {
    let users = start().await;
    users.register("grace@example.com", "hopper1234").await;
    let (status, body) = users
        .post(
            "/api/users/register",
            None,
            json!({"email": " GRACE@example.com", "password": "other-password", "name": "G"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(code(&body), "email_taken");
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_answer() {
    let users = start().await;
    users.register("linus@example.com", "penguins!").await;
    let (s1, b1) = users
        .post(
            "/api/users/login",
            None,
            json!({"email": "linus@example.com", "password": "nope-nope"}),
        )
        .await;
    let (s2, b2) = users
        .post(
            "/api/users/login",
            None,
            json!({"email": "nobody@example.com", "password": "nope-nope"}),
        )
        .await;
    assert_eq!(
        (s1, s2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(b1, b2);
    assert_eq!(code(&b1), "invalid_credentials");
}

#[tokio::test]
async fn logout_revokes_the_token_but_not_a_new_login() {
    let users = start().await;
    users.register("ken@example.com", "unix-1969").await;
    let token = users.login("ken@example.com", "unix-1969").await;
    let (status, _) = users
        .post("/api/users/logout", Some(&token), json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let (status, body) = users.get("/api/users/profile", Some(&token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{body}"
    );

    let fresh = users.login("ken@example.com", "unix-1969").await;
    assert_eq!(
        users.get("/api/users/profile", Some(&fresh)).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn profile_update_changes_name_and_password_only_with_the_current_password() {
    let users = start().await;
    users.register("barbara@example.com", "liskov-sub").await;
    let token = users.login("barbara@example.com", "liskov-sub").await;

    let (status, body) = users
        .put(
            "/api/users/profile",
            &token,
            json!({"name": "Barbara Liskov"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["name"], "Barbara Liskov");

    let (status, body) = users
        .put(
            "/api/users/profile",
            &token,
            json!({"password": "new-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let (status, body) = users
        .put(
            "/api/users/profile",
            &token,
            json!({"password": "new-password", "currentPassword": "wrong-one"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "wrong_current_password");
    users.login("barbara@example.com", "liskov-sub").await;

    let (status, _) = users
        .put(
            "/api/users/profile",
            &token,
            json!({"password": "new-password", "currentPassword": "liskov-sub"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    users.login("barbara@example.com", "new-password").await;
}

#[tokio::test]
async fn bad_input_is_a_clear_client_error_and_creates_nothing() {
    let users = start().await;
    let cases = [
        (
            json!({"email": "not-an-email", "password": "long-enough", "name": "X"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"email": "a@example.com", "password": "short", "name": "X"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"email": "a@example.com", "password": "long-enough", "name": "  "}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"email": "a@example.com", "password": 12345678, "name": "X"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"email": "a@example.com"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"email": "a@example.com", "password": "long-enough", "name": "X", "role": "admin"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (body, expected) in cases {
        let (status, answer) = users.post("/api/users/register", None, body.clone()).await;
        assert_eq!(status, expected, "{body} -> {answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    let resp = users
        .http
        .post(format!("{}/api/users/register", users.base))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    let resp = users
        .http
        .post(format!("{}/api/users/register", users.base))
        .header("content-type", "application/json")
        .body(format!("{{\"email\": \"{}\"}}", "x".repeat(10_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let pool = sqlx::PgPool::connect(users.database_url()).await.unwrap();
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 0, "no bad request may leave an account behind");
}

#[tokio::test]
async fn profile_needs_a_valid_token() {
    let users = start().await;
    assert_eq!(
        users.get("/api/users/profile", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        users.get("/api/users/profile", Some("garbage")).await.0,
        StatusCode::UNAUTHORIZED
    );
    let forged =
        storefront_common::auth::Authenticator::new("another-secret-another-secret-another", None)
            .issue(
                storefront_common::ids::UserId::new(),
                storefront_common::auth::Role::Admin,
                std::time::Duration::from_secs(60),
            )
            .unwrap()
            .token;
    assert_eq!(
        users.get("/api/users/profile", Some(&forged)).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_hash_with_older_parameters_is_upgraded_at_login_and_only_then() {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let users = start().await;
    users.register("old@shop.test", "correct horse").await;
    // What the service stored before it moved to m=7 MiB, t=5: the argon2 crate's default.
    let salt = SaltString::generate(&mut OsRng);
    let old = argon2::Argon2::default()
        .hash_password(b"correct horse", &salt)
        .unwrap()
        .to_string();
    let pool = sqlx::PgPool::connect(users.database_url()).await.unwrap();
    let stored = || async {
        sqlx::query_scalar::<_, String>("SELECT password_hash FROM users WHERE email = $1")
            .bind("old@shop.test")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    sqlx::query("UPDATE users SET password_hash = $1 WHERE email = $2")
        .bind(&old)
        .bind("old@shop.test")
        .execute(&pool)
        .await
        .unwrap();

    let (status, _) = users
        .post(
            "/api/users/login",
            None,
            json!({"email": "old@shop.test", "password": "wrong horse"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        stored().await,
        old,
        "a failed login must not touch the hash"
    );

    users.login("old@shop.test", "correct horse").await;
    let upgraded = stored().await;
    assert!(
        upgraded.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"),
        "{upgraded}"
    );
    users.login("old@shop.test", "correct horse").await;
    assert_eq!(stored().await, upgraded, "a current hash is not rehashed");
}

#[tokio::test]
async fn admin_is_created_once_and_keeps_a_changed_password_across_restarts() {
    let db = shared_postgres().create_database("users").await;
    let redis = shared_redis().fresh_url();
    let admin = [
        ("STOREFRONT_ADMIN_EMAIL", "admin@shop.test"),
        ("STOREFRONT_ADMIN_PASSWORD", "admin-password"),
    ];
    let first = start_with(db.clone(), redis.clone(), &admin).await;
    let token = first.login("admin@shop.test", "admin-password").await;
    let (_, profile) = first.get("/api/users/profile", Some(&token)).await;
    assert_eq!(profile["role"], "admin");
    let (status, _) = first
        .put(
            "/api/users/profile",
            &token,
            json!({"password": "rotated-password", "currentPassword": "admin-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let second = start_with(
        first.database_url().to_string(),
        first.redis_url().to_string(),
        &admin,
    )
    .await;
    second.login("admin@shop.test", "rotated-password").await;
    let (status, _) = second
        .post(
            "/api/users/login",
            None,
            json!({"email": "admin@shop.test", "password": "admin-password"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a restart must not reset the admin's password"
    );
}

#[tokio::test]
async fn ops_endpoints_answer_and_count_requests() {
    let users = start().await;
    assert_eq!(users.get("/healthz", None).await.0, StatusCode::OK);
    let (status, ready) = users.get("/readyz", None).await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready["checks"]["postgres"], "ok");
    assert_eq!(ready["checks"]["redis"], "ok");
    users.get("/api/users/profile", None).await;
    let text = users
        .http
        .get(format!("{}/metrics", users.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.lines().any(|l| l.starts_with("http_requests_total")
            && l.contains("route=\"/api/users/profile\"")
            && l.contains("status=\"401\"")),
        "{text}"
    );
    let resp = users
        .http
        .get(format!("{}/nope", users.base))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(resp.headers()["x-request-id"], "abc-123");
}

#[tokio::test]
async fn with_redis_down_authenticated_requests_fail_fast_with_503_and_login_still_works() {
    let redis = storefront_testkit::RedisServer::start().unwrap();
    let db = shared_postgres().create_database("users").await;
    let users = start_with(db, redis.url(), &[]).await;
    users.register("outage@example.com", "redis-is-down").await;
    let token = users.login("outage@example.com", "redis-is-down").await;
    redis.stop();

    let answer = users
        .http
        .get(format!("{}/api/users/profile", users.base))
        .bearer_auth(&token)
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await
        .expect("must answer, not hang, while Redis is down");
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(code(&body), "unavailable");
    // Logging in needs no denylist look-up.
    users.login("outage@example.com", "redis-is-down").await;
}

#[tokio::test]
async fn a_users_contact_is_for_services_only() {
    let users = start().await;
    let registered = users.register("grace@example.com", "correct horse").await;
    let id = registered["id"].as_str().unwrap();
    let path = format!("/internal/users/{id}/contact");

    let service = storefront_testkit::app::service_token("notifications");
    let (status, contact) = users.get(&path, Some(&service)).await;
    assert_eq!(status, StatusCode::OK, "{contact}");
    assert_eq!(
        contact,
        json!({"email": "grace@example.com", "name": "Ada Lovelace"})
    );

    let own = users.login("grace@example.com", "correct horse").await;
    let (status, body) = users.get(&path, Some(&own)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = users.get(&path, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = users
        .get(
            &format!(
                "/internal/users/{}/contact",
                storefront_common::ids::UserId::new()
            ),
            Some(&service),
        )
        .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, body) = users
        .get("/internal/users/not-a-uuid/contact", Some(&service))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}
