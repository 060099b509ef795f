//! The hinomi hub: the domain layer ([`service`]) and, over it, the HTTP front ends
//! (`front`: TAXII 2.1 under `/taxii2/`, the REST API under `/api/v1/`, the SSE
//! stream, the CSAF provider tree, `/healthz` and Prometheus `/metrics`) with their
//! shared HTTP support (`http`).
//!
//! Layers, each importing only those below it: `front` → `http` → `service` → the
//! store, access, STIX, pattern, CSAF and notify crates. Invariant: front ends never
//! decide visibility; every read of a stored object goes through the caller's
//! [`service::Viewer`] and [`service::objects::read`] (see ARCHITECTURE.md).

pub mod clock;
mod conn;
mod front;
mod http;
mod metrics;
pub mod outbound;
pub mod service;
pub mod tls;
pub mod work;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;

pub use hinomi_stix::Tlp;
use hinomi_store::{Store, StoreError};

pub use clock::Clock;
pub use metrics::Metrics;
pub use service::delivery::{NotifyConfig, TargetedWarnings};

use crate::http::{ApiError, Code};
use crate::service::{delivery, federation, index};

/// The TAXII 2.1 media type.
pub const TAXII_MEDIA_TYPE: &str = "application/taxii+json;version=2.1";
/// The STIX 2.1 media type.
pub const STIX_MEDIA_TYPE: &str = "application/stix+json;version=2.1";
/// The path of the hub's one API root.
pub const API_ROOT: &str = "/taxii2/hub/";

/// What the server needs to know beyond its store.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Shown in TAXII discovery and the API root.
    pub title: String,
    /// TLP of objects that carry no TLP marking.
    pub default_tlp: Tlp,
    /// Largest request body accepted (TAXII `max_content_length`), bytes.
    pub max_content_length: usize,
    /// Page size when a request gives no `limit`.
    pub default_page_size: usize,
    /// Largest page served, whatever `limit` asks.
    pub max_page_size: usize,
    /// Writes (POST, PUT, PATCH, DELETE) allowed per credential per minute, with bursts
    /// of up to that many; 0 turns the limit off.
    pub write_rate_per_minute: u32,
    /// The CSAF provider tree served at `/.well-known/csaf/` (written by
    /// `hinomi csaf publish`); None serves nothing there.
    pub provider_dir: Option<std::path::PathBuf>,
    /// Warnings: delivery, e-mail, acknowledgement policy.
    pub notify: NotifyConfig,
    /// Where "now" comes from (tests use a manual clock).
    pub clock: Clock,
    /// Peer hubs: pull interval, batch size, client TLS.
    pub federation: federation::FederationConfig,
    /// Where webhooks and peer connections may go.
    pub outbound: outbound::OutboundPolicy,
    /// How long a request body may take to arrive, whole.
    pub body_timeout: std::time::Duration,
    /// How long a request's headers may take to arrive, from when the connection awaits
    /// them (hyper's header timer: idle keep-alive time counts too).
    pub header_timeout: std::time::Duration,
    /// Reverse proxies whose `X-Forwarded-For` names the client (per-address limits).
    pub trusted_proxies: Vec<outbound::Net>,
    /// Request bodies over 1 MiB read at once; more wait up to `large_body_wait`.
    pub max_large_bodies: usize,
    pub large_body_wait: std::time::Duration,
    /// Requests' blocking steps (store calls, validation) running at once; more wait
    /// up to `blocking_wait`, then 503. The runtime's blocking threads are capped to
    /// match ([`work::max_blocking_threads`]).
    pub max_blocking: usize,
    pub blocking_wait: std::time::Duration,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// A connection on which nothing was read or written for this long is closed.
    pub idle_timeout: std::time::Duration,
    /// How often a signed audit checkpoint is written to the log (target
    /// `hinomi::audit`), for log shipping to keep outside the hub.
    pub audit_checkpoint_interval: std::time::Duration,
    /// `/metrics` without a token (for a listener only the monitoring network reaches);
    /// otherwise it needs a coordinator token.
    pub metrics_public: bool,
    /// Incident reporting: deadlines, correlation, attachment bounds.
    pub incidents: service::incidents::IncidentConfig,
    /// People signing in to the web UI: lockout, sessions, invitations, cookies.
    pub accounts: service::accounts::AccountsConfig,
    /// Matching observations: the per-organization state of patterns binding several.
    pub matching: service::matching::MatchingConfig,
    /// Members may submit CSAF advisories under publisher namespaces bound to no
    /// organization (labs); by default only under their own.
    pub accept_unbound_publishers: bool,
}

impl Default for HubConfig {
    fn default() -> HubConfig {
        HubConfig {
            title: "hinomi hub".into(),
            default_tlp: Tlp::Amber,
            max_content_length: 16 * 1024 * 1024,
            default_page_size: 1000,
            max_page_size: 10_000,
            write_rate_per_minute: 6000,
            provider_dir: None,
            notify: NotifyConfig::default(),
            clock: Clock::System,
            federation: federation::FederationConfig::default(),
            outbound: outbound::OutboundPolicy::default(),
            metrics_public: false,
            audit_checkpoint_interval: std::time::Duration::from_secs(3600),
            body_timeout: std::time::Duration::from_secs(60),
            max_large_bodies: 4,
            large_body_wait: std::time::Duration::from_secs(10),
            // Below the PostgreSQL pool (32 connections), so the health lane always
            // finds a connection.
            max_blocking: 30,
            blocking_wait: std::time::Duration::from_secs(30),
            max_connections: 4096,
            // Equal, so an idle keep-alive connection lives the idle timeout (hyper's
            // header timer runs while a connection awaits its next request too).
            idle_timeout: std::time::Duration::from_secs(60),
            header_timeout: std::time::Duration::from_secs(60),
            trusted_proxies: Vec::new(),
            incidents: service::incidents::IncidentConfig::default(),
            accounts: service::accounts::AccountsConfig::default(),
            matching: service::matching::MatchingConfig::default(),
            accept_unbound_publishers: false,
        }
    }
}

/// Logs a signed audit checkpoint every `audit_checkpoint_interval` while the hub runs.
fn spawn_audit_checkpoints(state: &Shared) {
    let weak = Arc::downgrade(state);
    let every = state.config.audit_checkpoint_interval;
    let _ = std::thread::Builder::new()
        .name("hinomi-audit".into())
        .spawn(move || loop {
            // Wake often enough to notice the hub is gone.
            let start = std::time::Instant::now();
            while start.elapsed() < every {
                std::thread::sleep(std::time::Duration::from_secs(1).min(every));
                if weak.strong_count() == 0 {
                    return;
                }
            }
            let Some(s) = weak.upgrade() else { return };
            match service::directory::signed_checkpoint(&s) {
                Ok(c) => {
                    tracing::info!(target: "hinomi::audit", checkpoint = %c, "audit checkpoint")
                }
                Err(e) => tracing::warn!(target: "hinomi::audit", error = %e, "audit checkpoint"),
            }
        });
}

/// Shared state of all handlers.
pub struct AppState {
    pub store: Arc<Store>,
    pub config: HubConfig,
    pub metrics: Metrics,
    limiter: http::ratelimit::Limiter,
    /// Permits for reading request bodies over 1 MiB (`max_large_bodies`).
    large_bodies: tokio::sync::Semaphore,
    /// Requests' blocking work (`max_blocking`), and the health check's own lane.
    pub work: work::Lane,
    health_lane: work::Lane,
    /// Event streams' polls: many open streams cannot fill `work`.
    stream_lane: work::Lane,
    indicators: index::IndicatorIndex,
    /// Each organization's partial matches of patterns binding several observations.
    pub streams: service::matching::Streams,
    delivery_waker: Arc<delivery::Waker>,
    stream_notify: tokio::sync::Notify,
    federation_waker: Arc<delivery::Waker>,
    /// Peers whose pull is due now (on demand), by id.
    federation_forced: std::sync::Mutex<std::collections::HashSet<String>>,
    federation_sync_lock: federation::SyncLock,
    federation_backoff: federation::Backoff,
    closing: std::sync::atomic::AtomicBool,
    password_checks: service::accounts::PasswordChecks,
}

pub type Shared = Arc<AppState>;

impl AppState {
    /// The state of a hub over `store`; compiles the store's current indicators.
    pub fn new(store: Arc<Store>, config: HubConfig) -> Result<Shared, StoreError> {
        let changes = store.indicator_changes();
        let state = AppState::idle(store, config)?;
        delivery::spawn(&state);
        federation::spawn(&state);
        spawn_audit_checkpoints(&state);
        if let Some(rx) = changes {
            // Other nodes' indicator changes (PostgreSQL NOTIFY) refresh this node's index.
            state.indicators.set_notified();
            let weak = Arc::downgrade(&state);
            std::thread::spawn(move || {
                while let Ok(first) = rx.recv() {
                    // Take everything already waiting, to refresh in one query.
                    let mut ids: Vec<String> = std::iter::once(first)
                        .chain(rx.try_iter())
                        .filter(|id| !id.is_empty())
                        .collect();
                    ids.sort();
                    ids.dedup();
                    let Some(state) = weak.upgrade() else { return };
                    if !ids.is_empty() {
                        if let Err(e) = index::refresh_notified(&state, ids) {
                            tracing::warn!(error = %e, "refreshing the indicator index");
                        }
                    }
                }
            });
        }
        Ok(state)
    }

    /// The state without its workers (delivery, federation, cross-node index
    /// refresh): for a console command that calls services and exits, and must not
    /// claim deliveries it would abandon.
    pub fn idle(store: Arc<Store>, config: HubConfig) -> Result<Shared, StoreError> {
        store.set_audit_key(config.notify.key.derive_key(service::directory::AUDIT_KEY));
        store.ensure_keyed_audit()?;
        let indicators = index::IndicatorIndex::load(&store)?;
        let large_bodies = tokio::sync::Semaphore::new(config.max_large_bodies.max(1));
        Ok(Arc::new(AppState {
            store,
            metrics: Metrics::default(),
            limiter: http::ratelimit::Limiter::default(),
            large_bodies,
            work: work::Lane::new(config.max_blocking, config.blocking_wait),
            health_lane: work::Lane::new(work::HEALTH_LANE, config.blocking_wait),
            stream_lane: work::Lane::new(work::STREAM_LANE, config.blocking_wait),
            indicators,
            streams: Default::default(),
            delivery_waker: Arc::default(),
            stream_notify: tokio::sync::Notify::new(),
            federation_waker: Arc::default(),
            federation_forced: Default::default(),
            federation_sync_lock: Default::default(),
            federation_backoff: Default::default(),
            closing: std::sync::atomic::AtomicBool::new(false),
            password_checks: Default::default(),
            config,
        }))
    }

    /// Whether the server is shutting down (long-lived responses such as the SSE
    /// stream end when they see it).
    pub fn closing(&self) -> bool {
        self.closing.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Marks the server as shutting down and wakes every stream so it ends now.
    fn close(&self) {
        self.closing
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.stream_notify.notify_waiters();
    }

    /// Tells the delivery worker that the outbox has new entries.
    pub fn wake_delivery(&self) {
        self.delivery_waker.wake();
    }

    /// Tells the federation worker that local objects changed (push them now).
    pub fn wake_federation(&self) {
        self.federation_waker.wake();
    }

    /// Asks the federation worker to pull `peer_id` at its next pass.
    pub fn force_pull(&self, peer_id: &str) {
        self.federation_forced
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(peer_id.to_string());
        self.wake_federation();
    }

    /// Tells open event streams that the feed has new events.
    pub fn wake_stream(&self) {
        self.stream_notify.notify_waiters();
    }

    /// Runs blocking store work off the async threads, in the bounded pool.
    pub async fn db<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> service::Result<T> {
        self.call(move |s| f(&s.store).map_err(service::Error::from))
            .await
    }

    /// Runs a (blocking) service operation off the async threads, in the bounded pool
    /// (`max_blocking`): 503 when no worker frees within `blocking_wait`.
    pub async fn call<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&AppState) -> service::Result<T> + Send + 'static,
    ) -> service::Result<T> {
        self.run_in(&self.work, f).await
    }

    /// As [`AppState::call`], in the health check's own lane.
    pub async fn call_health<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&AppState) -> service::Result<T> + Send + 'static,
    ) -> service::Result<T> {
        self.run_in(&self.health_lane, f).await
    }

    /// As [`AppState::call`], in the event streams' own lane.
    pub async fn call_stream<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&AppState) -> service::Result<T> + Send + 'static,
    ) -> service::Result<T> {
        self.run_in(&self.stream_lane, f).await
    }

    async fn run_in<T: Send + 'static>(
        self: &Arc<Self>,
        lane: &work::Lane,
        f: impl FnOnce(&AppState) -> service::Result<T> + Send + 'static,
    ) -> service::Result<T> {
        let slot = lane.enter().await?;
        let state = self.clone();
        // The slot goes with the work: a caller that goes away frees it only when the
        // work ends.
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            f(&state)
        })
        .await
        .map_err(service::Error::internal)?
    }
}

/// The whole application.
pub fn router(state: Shared) -> Router {
    Router::new()
        .merge(front::routes())
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            http::ratelimit::limit_writes,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

async fn not_found(req: Request) -> ApiError {
    let e = ApiError::new(
        Code::NotFound,
        format!("no resource at {}", req.uri().path()),
    );
    if req.uri().path().starts_with("/taxii2") {
        e.taxii()
    } else {
        e
    }
}

/// Request ids, structured access logs and request metrics.
async fn observe(State(s): State<Shared>, mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let method = req.method().clone();
    let mut path = req.uri().path().to_string();
    // An invitation link's secret opens an account: it never reaches the log.
    if path.starts_with("/invite/") {
        path = "/invite/…".to_string();
    }
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut resp = next.run(req).await;
    let status = resp.status().as_u16();
    let elapsed = start.elapsed();
    s.metrics.observe_request(status, elapsed);
    tracing::info!(request_id = %id, %method, %path, status, ms = elapsed.as_secs_f64() * 1000.0, "request");
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// The id of the current request (also in the `x-request-id` response header).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Serves `router(state)` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Shared,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let guarded = conn::Guarded::new(
        listener,
        state.config.max_connections,
        state.config.idle_timeout,
    );
    run(guarded, state, shutdown).await
}

/// Serves `router(state)` over HTTPS with `config` until `shutdown` resolves.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    config: Arc<tokio_rustls::rustls::ServerConfig>,
    state: Shared,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let tls = tls::TlsListener::new(listener, config)?;
    let guarded = conn::Guarded::new(tls, state.config.max_connections, state.config.idle_timeout);
    run(guarded, state, shutdown).await
}

/// The accept loop: each connection served by hyper's HTTP/1.1 with a deadline for a
/// request's headers (`header_timeout`; a client trickling them is cut off, whatever
/// the idle timeout), the client's address in every request's extensions. On
/// `shutdown` it stops accepting, ends event streams, and waits for the requests in
/// flight.
async fn run<L>(
    mut listener: conn::Guarded<L>,
    state: Shared,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener<Addr = SocketAddr>,
    L::Io: Unpin + conn::ClientCertificate,
{
    use axum::serve::Listener as _;
    use tower_service::Service as _;
    let app = router(state.clone());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(state.config.header_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (io, addr) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let client = axum::extract::ConnectInfo(conn::ClientAddr(addr));
        use conn::ClientCertificate as _;
        let cert = io
            .client_certificate_sha256()
            .and_then(|c| HeaderValue::from_str(&c).ok());
        let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(client);
            // Only the TLS session says which certificate the client presented.
            let headers = req.headers_mut();
            headers.remove(conn::CLIENT_CERT_HEADER);
            if let Some(c) = &cert {
                headers.insert(conn::CLIENT_CERT_HEADER, c.clone());
            }
            // A router is always ready: no `poll_ready` needed before `call`.
            app.clone().call(req.map(axum::body::Body::new))
        });
        let connection = http.serve_connection(hyper_util::rt::TokioIo::new(io), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that goes away or breaks the protocol only ends its connection.
            let _ = connection.await;
        });
    }
    // No new connections while the open ones drain (as axum::serve does).
    drop(listener);
    state.close();
    graceful.shutdown().await;
    Ok(())
}

/// A server running on a background thread (tests, benchmarks, embedded use).
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server on `127.0.0.1:0`.
    pub fn start(store: Arc<Store>, config: HubConfig) -> TestServer {
        TestServer::start_with_tls(store, config, None)
    }

    /// Starts an HTTPS server on `127.0.0.1:0` (`url()` still says http; use
    /// `https://localhost:PORT`).
    pub fn start_with_tls(
        store: Arc<Store>,
        config: HubConfig,
        tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    ) -> TestServer {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            // The store is synchronous: build the state outside the runtime.
            let state = AppState::new(store, config).expect("load the indicator index");
            // Dropped after the runtime: the PostgreSQL client must not close inside it.
            let keep = state.clone();
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .max_blocking_threads(work::max_blocking_threads(state.config.max_blocking))
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind 127.0.0.1:0");
                addr_tx
                    .send(listener.local_addr().expect("local addr"))
                    .expect("report address");
                let stop = async {
                    let _ = rx.await;
                };
                let _ = match tls {
                    Some(t) => serve_tls(listener, t, state, stop).await,
                    None => serve(listener, state, stop).await,
                };
            });
            drop(rt);
            drop(keep);
        });
        let addr = addr_rx.recv().expect("server started");
        TestServer {
            addr,
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
