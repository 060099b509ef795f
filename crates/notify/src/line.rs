//! A connection that is plain TCP or TLS (client or server side), read line by line.
//!
//! The line buffer lives outside the stream so that a connection can be upgraded by
//! STARTTLS: [`LineConn::take_tcp`] gives back the TCP stream. Whatever was read but not
//! consumed must be empty at that point ([`LineConn::has_buffered`]); anything else would
//! be plaintext injected before the handshake, and is discarded.

use std::io::{self, Read, Write};
use std::net::TcpStream;

use rustls::{ClientConnection, ServerConnection, StreamOwned};

/// The transport under a [`LineConn`].
pub(crate) enum Stream {
    Plain(TcpStream),
    Client(Box<StreamOwned<ClientConnection, TcpStream>>),
    Server(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Stream {
    pub(crate) fn is_tls(&self) -> bool {
        !matches!(self, Stream::Plain(_))
    }

    /// The TCP stream, dropping any TLS state.
    pub(crate) fn into_tcp(self) -> TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Client(s) => s.sock,
            Stream::Server(s) => s.sock,
        }
    }

    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Client(s) => &s.sock,
            Stream::Server(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Client(s) => s.read(buf),
            Stream::Server(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Client(s) => s.write(buf),
            Stream::Server(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Client(s) => s.flush(),
            Stream::Server(s) => s.flush(),
        }
    }
}

/// A [`Stream`] with a read buffer, read one line at a time.
pub(crate) struct LineConn {
    /// `None` only between [`LineConn::take_tcp`] and [`LineConn::set_stream`].
    stream: Option<Stream>,
    buf: Vec<u8>,
}

impl LineConn {
    pub(crate) fn new(stream: Stream) -> LineConn {
        LineConn {
            stream: Some(stream),
            buf: Vec::new(),
        }
    }

    pub(crate) fn is_tls(&self) -> bool {
        self.stream.as_ref().is_some_and(Stream::is_tls)
    }

    fn stream(&mut self) -> io::Result<&mut Stream> {
        self.stream.as_mut().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotConnected,
                "connection lost during TLS upgrade",
            )
        })
    }

    /// Whether bytes were received that no [`LineConn::read_line`] has returned yet.
    pub(crate) fn has_buffered(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Takes the TCP stream out for a TLS upgrade; put the TLS stream back with
    /// [`LineConn::set_stream`]. Check [`LineConn::has_buffered`] first.
    pub(crate) fn take_tcp(&mut self) -> Option<std::net::TcpStream> {
        self.buf.clear();
        self.stream.take().map(Stream::into_tcp)
    }

    pub(crate) fn set_stream(&mut self, stream: Stream) {
        self.stream = Some(stream);
    }

    /// The next line without its line ending (CRLF or a bare LF); `None` at end of stream.
    /// A line longer than `max` bytes is an `InvalidData` error.
    pub(crate) fn read_line(&mut self, max: usize) -> io::Result<Option<Vec<u8>>> {
        let mut scanned = 0;
        loop {
            if let Some(pos) = self.buf[scanned..].iter().position(|&b| b == b'\n') {
                let end = scanned + pos;
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(line));
            }
            scanned = self.buf.len();
            if self.buf.len() > max {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("line longer than {max} bytes"),
                ));
            }
            let mut chunk = [0u8; 4096];
            let n = match self.stream()?.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                return Ok(None);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Writes all of `data` and flushes it to the network.
    pub(crate) fn send(&mut self, data: &[u8]) -> io::Result<()> {
        let stream = self.stream()?;
        stream.write_all(data)?;
        stream.flush()
    }

    /// Ends TLS politely (close_notify); does nothing on a plain connection.
    pub(crate) fn close_tls(&mut self) {
        match &mut self.stream {
            None | Some(Stream::Plain(_)) => {}
            Some(Stream::Client(s)) => {
                s.conn.send_close_notify();
                let _ = s.flush();
            }
            Some(Stream::Server(s)) => {
                s.conn.send_close_notify();
                let _ = s.flush();
            }
        }
    }

    /// Shuts the TCP connection down in both directions.
    pub(crate) fn shutdown(&self) {
        if let Some(stream) = &self.stream {
            let _ = stream.tcp().shutdown(std::net::Shutdown::Both);
        }
    }
}
