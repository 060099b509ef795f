//! Connections as the server accepts them: at most `max_connections` at once (the rest
//! wait in the kernel's listen backlog), and each closed when nothing was read or
//! written on it for `idle_timeout` (an idle keep-alive or a sender that stalls).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// A listener whose connections are counted and watched for idleness.
pub struct Guarded<L> {
    inner: L,
    permits: Arc<Semaphore>,
    idle: Duration,
}

impl<L> Guarded<L> {
    pub fn new(inner: L, max_connections: usize, idle: Duration) -> Guarded<L> {
        Guarded {
            inner,
            permits: Arc::new(Semaphore::new(max_connections.max(1))),
            idle,
        }
    }
}

impl<L> axum::serve::Listener for Guarded<L>
where
    L: axum::serve::Listener,
    L::Io: Unpin,
{
    type Io = Watched<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // Waits for a free slot before accepting: beyond the limit, clients queue in
        // the backlog instead of costing the hub memory and tasks.
        let permit = match self.permits.clone().acquire_owned().await {
            Ok(p) => p,
            Err(_) => std::future::pending().await,
        };
        let (io, addr) = self.inner.accept().await;
        (
            Watched {
                io,
                _permit: permit,
                idle: self.idle,
                timer: Box::pin(tokio::time::sleep(self.idle)),
            },
            addr,
        )
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection that holds its slot until dropped and fails once idle too long.
pub struct Watched<T> {
    io: T,
    _permit: OwnedSemaphorePermit,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
}

impl<T> Watched<T> {
    fn active(&mut self) {
        self.timer.as_mut().reset(Instant::now() + self.idle);
    }

    /// Ready(error) once the idle time has passed; otherwise registers the waker.
    fn expired(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle for too long",
            )),
            Poll::Pending => Poll::Pending,
        }
    }
}

use std::future::Future as _;

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    this.active();
                }
                Poll::Ready(r)
            }
            Poll::Pending => match this.expired(cx) {
                Poll::Ready(e) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_write(cx, data) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    this.active();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match this.expired(cx) {
                Poll::Ready(e) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    this.active();
                }
                Poll::Ready(Ok(n))
            }
            other => other,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// The address a connection came from, for per-client limits on requests without
/// credentials (`ConnectInfo<ClientAddr>` in a request's extensions, put there by the
/// accept loop). Behind a reverse proxy it is the proxy's.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub std::net::SocketAddr);

/// The request header that carries the SHA-256 (lowercase hex, of the DER) of the
/// client certificate the connection was made with. The accept loop removes it from
/// every request and sets it only from the TLS session, so a client cannot supply it.
pub const CLIENT_CERT_HEADER: &str = "x-hinomi-client-cert-sha256";

/// What a connection tells about the client certificate it was made with.
pub trait ClientCertificate {
    /// The SHA-256 of the client's leaf certificate (lowercase hex); None without TLS or
    /// without a client certificate.
    fn client_certificate_sha256(&self) -> Option<String> {
        None
    }
}

impl ClientCertificate for tokio::net::TcpStream {}

impl ClientCertificate for tokio_rustls::server::TlsStream<tokio::net::TcpStream> {
    fn client_certificate_sha256(&self) -> Option<String> {
        let leaf = self.get_ref().1.peer_certificates()?.first()?;
        let digest = ring::digest::digest(&ring::digest::SHA256, leaf.as_ref());
        Some(crate::service::hex(digest.as_ref()))
    }
}

impl<T: ClientCertificate> ClientCertificate for Watched<T> {
    fn client_certificate_sha256(&self) -> Option<String> {
        self.io.client_certificate_sha256()
    }
}
