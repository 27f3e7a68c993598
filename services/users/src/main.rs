use std::process::ExitCode;

use storefront_users::{Config, build};

#[tokio::main]
async fn main() -> ExitCode {
    release_large_blocks_at_once();
    let info = storefront_common::cli::Info {
        name: "users",
        about: "accounts, login and tokens",
        version: env!("CARGO_PKG_VERSION"),
    };
    storefront_common::service::run(info, || async {
        let config = Config::from_env()?;
        Ok(build(config).await?)
    })
    .await
}

/// Each argon2id hash takes one large block (7 MiB; 19 MiB when verifying a hash made with the
/// older parameters). glibc's default adaptive mmap threshold moves up after the first such
/// block is freed, after which the blocks come from the heap and are kept: measured with 19 MiB
/// blocks, the service grew by a block every few logins (past 100 MiB after a hundred). A fixed
/// 1 MiB threshold makes them mmap'ed and returned on free.
#[allow(unsafe_code)]
fn release_large_blocks_at_once() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
