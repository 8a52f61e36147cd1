//! The HTTP server loop: axum's router on hyper, with the time limits axum's own `serve`
//! leaves out. A client must finish sending a request's headers within
//! [`HEADER_TIMEOUT`] (so a slow-headers client cannot hold connections open), TLS
//! handshakes are bounded by the listener, and WebSocket upgrades still work.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tower::ServiceExt as _;

/// Longest time to receive a request's headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for open connections to finish after shutdown is asked.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` until `stop` turns true.
pub async fn serve<L>(mut listener: L, router: Router, mut stop: tokio::sync::watch::Receiver<bool>)
where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|s| *s) => break,
        };
        let service = router
            .clone()
            .layer(axum::Extension(ConnectInfo(peer)))
            .map_request(|req: hyper::Request<Incoming>| req.map(axum::body::Body::new));
        let service = TowerToHyperService::new(service);
        let mut builder = Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT);
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(io), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        });
    }
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await;
}
