#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking
use storefront_testkit::{shared_postgres, shared_redis};

#[tokio::test]
async fn postgres_gives_each_caller_its_own_database() {
    use sqlx::Connection;
    let pg = shared_postgres();
    let a = pg.create_database("t").await;
    let b = pg.create_database("t").await;
    assert_ne!(a, b);
    let mut conn = sqlx::PgConnection::connect(&a).await.unwrap();
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(one, 1);
}

#[test]
fn redis_answers_and_hands_out_distinct_databases() {
    let redis = shared_redis();
    assert_ne!(redis.fresh_url(), redis.fresh_url());
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", redis.port())).unwrap();
    use std::io::{Read, Write};
    stream.write_all(b"PING\r\n").unwrap();
    let mut buf = [0u8; 7];
    stream.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"+PONG\r\n");
}

#[test]
fn stopped_postgres_leaves_no_files_behind() {
    let pg = storefront_testkit::PostgresServer::start().unwrap();
    let log = pg.log_path();
    let dir = log.parent().unwrap().to_path_buf();
    assert!(dir.exists());
    pg.stop();
    assert!(!dir.exists());
    assert!(std::net::TcpStream::connect(("127.0.0.1", pg.port())).is_err());
}
