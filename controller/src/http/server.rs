//! The HTTP server loop: axum's router on hyper, with the time limits axum's own `serve`
//! leaves out. A client must finish sending a request's headers within
//! [`HEADER_TIMEOUT`] and its body at the [`BodyPace`] (so neither slow headers nor a
//! trickled body can hold connections open), TLS handshakes are bounded by the listener,
//! and WebSocket upgrades still work. The pace is enforced on the body itself, before any
//! middleware or handler reads it.

use std::future::Future as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::response::IntoResponse as _;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tower::ServiceExt as _;

/// Longest time to receive a request's headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for open connections to finish after shutdown is asked.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` until `stop` turns true.
pub async fn serve<L>(
    mut listener: L,
    router: Router,
    limits: EdgeLimits,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|s| *s) => break,
        };
        let service = tower::service_fn({
            let router = router.clone().layer(axum::Extension(ConnectInfo(peer)));
            let limits = limits.clone();
            move |req: hyper::Request<Incoming>| {
                let late = Arc::new(AtomicBool::new(false));
                let req =
                    req.map(|b| axum::body::Body::new(Paced::new(b, limits.pace, late.clone())));
                let (router, edge) = (router.clone(), Arc::clone(&limits.edge));
                async move {
                    let response = router.oneshot(req).await?;
                    Ok::<_, std::convert::Infallible>(if late.load(Ordering::Relaxed) {
                        crate::edge::Edge::count(&edge.bodies_too_slow);
                        too_slow()
                    } else {
                        response
                    })
                }
            }
        });
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

/// The limits a listener enforces, and where it counts what it refused.
#[derive(Debug, Clone)]
pub struct EdgeLimits {
    /// The pace request bodies must keep.
    pub pace: BodyPace,
    /// Counters.
    pub edge: Arc<crate::edge::Edge>,
}

/// How fast a request body must arrive: a slow 4G upload of a real file passes, a client
/// that trickles bytes to hold a connection does not.
#[derive(Debug, Clone, Copy)]
pub struct BodyPace {
    /// Time allowed before the rate counts (a handshake, a phone waking its radio).
    pub grace: Duration,
    /// Bytes a second the body must average after the grace.
    pub min_bytes_per_sec: u64,
}

impl Default for BodyPace {
    /// 10 s, then 4 KiB/s (32 kbit/s, below any working mobile uplink).
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(10),
            min_bytes_per_sec: 4096,
        }
    }
}

impl BodyPace {
    /// The default, or `DALABA_BODY_GRACE_MS` / `DALABA_BODY_MIN_RATE` (bytes a second).
    pub fn from_env() -> Self {
        let d = Self::default();
        let num = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
        Self {
            grace: num("DALABA_BODY_GRACE_MS").map_or(d.grace, Duration::from_millis),
            min_bytes_per_sec: num("DALABA_BODY_MIN_RATE")
                .filter(|&r| r > 0)
                .unwrap_or(d.min_bytes_per_sec),
        }
    }

    /// When a body that has delivered `received` bytes since `start` is late.
    fn deadline(&self, start: tokio::time::Instant, received: u64) -> tokio::time::Instant {
        let ms = received.saturating_mul(1000) / self.min_bytes_per_sec;
        start + self.grace + Duration::from_millis(ms)
    }
}

/// A request body too slow for its [`BodyPace`].
#[derive(Debug, thiserror::Error)]
#[error("the request body arrived too slowly")]
pub struct TooSlow;

/// A body that fails with [`TooSlow`] once it falls behind its pace, and raises `late` so
/// the answer can say so (408) whatever the handler made of the error.
struct Paced<B> {
    inner: B,
    pace: BodyPace,
    start: tokio::time::Instant,
    received: u64,
    timer: Pin<Box<tokio::time::Sleep>>,
    late: Arc<AtomicBool>,
}

impl<B> Paced<B> {
    fn new(inner: B, pace: BodyPace, late: Arc<AtomicBool>) -> Self {
        let start = tokio::time::Instant::now();
        Self {
            inner,
            pace,
            start,
            received: 0,
            timer: Box::pin(tokio::time::sleep_until(pace.deadline(start, 0))),
            late,
        }
    }
}

impl<B> axum::body::HttpBody for Paced<B>
where
    B: axum::body::HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                    let next = this.pace.deadline(this.start, this.received);
                    this.timer.as_mut().reset(next);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.late.store(true, Ordering::Relaxed);
                    Poll::Ready(Some(Err(Box::new(TooSlow))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The answer to a request whose body was too slow: 408, and the connection closes.
fn too_slow() -> axum::response::Response {
    let mut response = crate::error::AppError::TooSlow.into_response();
    response.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    response
}

/// `axum::serve` on a [`crate::tls::TlsListener`].
impl axum::serve::Listener for crate::tls::TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        self.next().await
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local())
    }
}
