//! The pluggable connection setup stages.
//!
//! [`Transport`] turns an address into a byte stream ([`TcpTransport`], or TLS over it in
//! `tls.rs`). [`Authenticator`] runs on the framed connection after the ApiVersions handshake
//! (`sasl/` implements it with SaslHandshake / SaslAuthenticate) and may return a session
//! deadline, after which the connection runs it again before its next request (KIP-368).
//! Nothing else in the crate depends on which implementations are used.

use std::{fmt, future::Future, io, net::SocketAddr, pin::Pin};

use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpSocket, TcpStream},
    time::Instant,
};

use super::Connection;
use crate::error::{BrokerRef, Error, Result};

/// A boxed future, for the dyn-compatible setup traits.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A bidirectional byte stream to a broker.
pub trait AsyncStream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> AsyncStream for T {}

/// A boxed [`AsyncStream`].
pub type BoxStream = Box<dyn AsyncStream>;

/// Opens byte streams to brokers.
pub trait Transport: fmt::Debug + Send + Sync + 'static {
    /// Connects to `host:port` (as named in `broker`). The caller bounds the time taken with
    /// `socket.connection.setup.timeout.ms`.
    fn connect<'a>(
        &'a self,
        broker: &'a BrokerRef,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, Result<BoxStream>>;
}

/// Authenticates a freshly negotiated connection.
pub trait Authenticator: fmt::Debug + Send + Sync + 'static {
    /// Runs the authentication exchange on `conn` (whose API versions are known).
    fn authenticate<'a>(&'a self, conn: &'a Connection) -> BoxFuture<'a, Result<()>>;

    /// Runs the exchange and returns when the session must be re-authenticated (`None`:
    /// never). A connection made with [`Connection::connect_with`] calls this again on the same
    /// connection before the first request it sends past that point, holding other requests
    /// back meanwhile. The default authenticates once, with no deadline.
    fn authenticate_session<'a>(&'a self, conn: &'a Connection) -> BoxFuture<'a, Result<Option<Instant>>> {
        Box::pin(async move { self.authenticate(conn).await.map(|()| None) })
    }
}

/// No authentication (`PLAINTEXT`).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAuth;

impl Authenticator for NoAuth {
    fn authenticate<'a>(&'a self, _conn: &'a Connection) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// Plain TCP with `TCP_NODELAY` and the configured socket buffer sizes; every address a host
/// name resolves to is tried in turn (`client.dns.lookup=use_all_dns_ips`).
#[derive(Debug, Clone, Default)]
pub struct TcpTransport {
    /// `send.buffer.bytes` (`None`: OS default).
    pub send_buffer_bytes: Option<u32>,
    /// `receive.buffer.bytes` (`None`: OS default).
    pub receive_buffer_bytes: Option<u32>,
}

impl TcpTransport {
    async fn connect_addr(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        if let Some(n) = self.send_buffer_bytes {
            socket.set_send_buffer_size(n)?;
        }
        if let Some(n) = self.receive_buffer_bytes {
            socket.set_recv_buffer_size(n)?;
        }
        socket.set_nodelay(true)?;
        let stream = socket.connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

impl Transport for TcpTransport {
    fn connect<'a>(
        &'a self,
        broker: &'a BrokerRef,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, Result<BoxStream>> {
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host, port)).await.map_err(|e| Error::io(broker, e))?.collect();
            let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{host} resolved to no address"));
            for addr in addrs {
                match self.connect_addr(addr).await {
                    Ok(s) => {
                        tracing::debug!(%broker, %addr, "TCP connected");
                        return Ok(Box::new(s) as BoxStream);
                    }
                    Err(e) => {
                        tracing::debug!(%broker, %addr, error = %e, "TCP connect failed, trying next address");
                        last = e;
                    }
                }
            }
            Err(Error::io(broker, last))
        })
    }
}
