//! The host's port to the gateway, in user space: a listener on the host's loopback, and for
//! each connection a socket opened from inside the router namespace to the gateway's address.
//! No host link, route, sysctl or NAT rule is needed for it.

use std::net::SocketAddr;

use storefront_testkit::in_netns;
use tokio::net::{TcpListener, TcpStream};

/// Accepts on `listener` for ever, joining each connection to `target` as reached from the
/// network namespace `via`.
pub async fn forward(listener: TcpListener, via: String, target: SocketAddr) {
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            continue;
        };
        let via = via.clone();
        tokio::spawn(async move {
            let connected = tokio::task::spawn_blocking(move || {
                in_netns(&via, || std::net::TcpStream::connect(target))
            })
            .await;
            let Ok(Ok(Ok(outbound))) = connected else {
                return;
            };
            if outbound.set_nonblocking(true).is_err() {
                return;
            }
            let Ok(mut outbound) = TcpStream::from_std(outbound) else {
                return;
            };
            let _ = outbound.set_nodelay(true);
            let _ = inbound.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
        });
    }
}
