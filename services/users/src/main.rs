use std::process::ExitCode;

use storefront_users::{Config, build};

#[tokio::main]
async fn main() -> ExitCode {
    release_large_blocks_at_once();
    storefront_common::service::run("users", || async {
        let config = Config::from_env()?;
        Ok(build(config).await?)
    })
    .await
}

/// Each argon2id hash takes a 19 MiB block. glibc's default adaptive mmap threshold moves up
/// after the first such block is freed, after which the blocks come from the heap and are kept:
/// measured, the service grew by 19 MiB every few logins (past 100 MiB after a hundred). A fixed
/// 1 MiB threshold makes them mmap'ed and returned on free, so memory stays near 27 MiB.
#[allow(unsafe_code)]
fn release_large_blocks_at_once() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
