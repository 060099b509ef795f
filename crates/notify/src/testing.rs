//! Test helpers: an in-process SMTP server and decoders for rendered messages.
//!
//! [`SmtpServer`] listens on `127.0.0.1:<free port>`, answers in std threads, records
//! every accepted message and stops when dropped. It speaks enough ESMTP for
//! [`crate::smtp::send`]: EHLO/HELO, STARTTLS (when started with a certificate),
//! AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT. Failures can be injected with
//! [`SmtpServer::set_reject_rcpt`] and [`SmtpServer::set_fail_next`].
//!
//! This is test code: constructors panic when the port or certificate cannot be set up.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use crate::line::{LineConn, Stream};
pub use crate::receiver::{WebhookReceiver, WebhookRequest};

/// One message the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Address from `MAIL FROM:<...>`.
    pub mail_from: String,
    /// Addresses from the accepted `RCPT TO:<...>` commands, in order.
    pub rcpt_to: Vec<String>,
    /// The message after un-dot-stuffing, each line ending in CRLF.
    pub data: String,
    /// Whether the session had switched to TLS (STARTTLS or implicit TLS).
    pub tls: bool,
    /// The user name that authenticated, if any.
    pub auth: Option<String>,
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    reject_rcpt: Option<String>,
    fail_next: usize,
    credentials: Option<(String, String)>,
    connections: Vec<TcpStream>,
    sessions: Vec<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    arrived: Condvar,
    stop: AtomicBool,
    tls: Option<Arc<ServerConfig>>,
    implicit_tls: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An SMTP server on `127.0.0.1` for tests; stops when dropped.
pub struct SmtpServer {
    port: u16,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SmtpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpServer")
            .field("port", &self.port)
            .field("tls", &self.shared.tls.is_some())
            .field("implicit_tls", &self.shared.implicit_tls)
            .finish()
    }
}

impl SmtpServer {
    /// A plain server; it does not advertise STARTTLS.
    pub fn start() -> SmtpServer {
        SmtpServer::spawn(None, false)
    }

    /// A server that advertises STARTTLS with the given PEM certificate chain and key.
    ///
    /// # Panics
    ///
    /// When the files cannot be read or do not form a usable certificate and key.
    pub fn start_tls(cert_pem: &Path, key_pem: &Path) -> SmtpServer {
        SmtpServer::spawn(Some(server_config(cert_pem, key_pem)), false)
    }

    /// A server that speaks TLS from the first byte (like port 465).
    ///
    /// # Panics
    ///
    /// As [`SmtpServer::start_tls`].
    pub fn start_implicit_tls(cert_pem: &Path, key_pem: &Path) -> SmtpServer {
        SmtpServer::spawn(Some(server_config(cert_pem, key_pem)), true)
    }

    fn spawn(tls: Option<Arc<ServerConfig>>, implicit_tls: bool) -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            arrived: Condvar::new(),
            stop: AtomicBool::new(false),
            tls,
            implicit_tls,
        });
        let accept_shared = Arc::clone(&shared);
        let acceptor = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let session_shared = Arc::clone(&accept_shared);
                let mut state = accept_shared.lock();
                if let Ok(clone) = stream.try_clone() {
                    state.connections.push(clone);
                }
                state
                    .sessions
                    .push(std::thread::spawn(move || session(&session_shared, stream)));
            }
        });
        SmtpServer {
            port,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The port on `127.0.0.1`.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The messages accepted so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().received.clone()
    }

    /// Waits until at least `n` messages were accepted or `timeout` passed, and returns
    /// all accepted messages (fewer than `n` on timeout).
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        while state.received.len() < n {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = self
                .shared
                .arrived
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        state.received.clone()
    }

    /// Answers `550` to `RCPT TO` of `addr` (exact match); `None` accepts everyone.
    pub fn set_reject_rcpt(&self, addr: Option<String>) {
        self.shared.lock().reject_rcpt = addr;
    }

    /// Answers `451` to the next `n` `MAIL FROM` commands.
    pub fn set_fail_next(&self, n: usize) {
        self.shared.lock().fail_next = n;
    }

    /// Accepts AUTH only with this user name and password (`535` otherwise); `None`, the
    /// default, accepts any non-empty user name.
    pub fn set_credentials(&self, credentials: Option<(String, String)>) {
        self.shared.lock().credentials = credentials;
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor, which then sees `stop`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let (connections, sessions) = {
            let mut state = self.shared.lock();
            (
                std::mem::take(&mut state.connections),
                std::mem::take(&mut state.sessions),
            )
        };
        for connection in connections {
            let _ = connection.shutdown(std::net::Shutdown::Both);
        }
        for session in sessions {
            let _ = session.join();
        }
    }
}

fn server_config(cert_pem: &Path, key_pem: &Path) -> Arc<ServerConfig> {
    let certs = CertificateDer::pem_file_iter(cert_pem)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .unwrap_or_else(|e| panic!("reading certificates from {}: {e}", cert_pem.display()));
    let key = PrivateKeyDer::from_pem_file(key_pem)
        .unwrap_or_else(|e| panic!("reading private key from {}: {e}", key_pem.display()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap_or_else(|e| panic!("certificate and key do not fit: {e}"));
    Arc::new(config)
}

fn server_handshake(config: &Arc<ServerConfig>, mut tcp: TcpStream) -> Option<Stream> {
    let mut conn = ServerConnection::new(Arc::clone(config)).ok()?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).ok()?;
    }
    Some(Stream::Server(Box::new(StreamOwned::new(conn, tcp))))
}

fn session(shared: &Shared, tcp: TcpStream) {
    if shared.stop.load(Ordering::SeqCst) {
        return;
    }
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = tcp.set_write_timeout(Some(Duration::from_secs(30)));
    let stream = match (&shared.tls, shared.implicit_tls) {
        (Some(config), true) => match server_handshake(config, tcp) {
            Some(stream) => stream,
            None => return,
        },
        _ => Stream::Plain(tcp),
    };
    let mut conn = LineConn::new(stream);
    let _ = converse(shared, &mut conn);
    conn.close_tls();
    conn.shutdown();
}

/// The envelope being built.
#[derive(Default)]
struct Envelope {
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
}

fn reply(conn: &mut LineConn, text: &str) -> std::io::Result<()> {
    conn.send(format!("{text}\r\n").as_bytes())
}

/// The address inside `<...>` after `FROM:` / `TO:`.
fn path_argument(arg: &str, keyword: &str) -> Option<String> {
    let rest = arg.get(..keyword.len())?;
    if !rest.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    Some(rest[..end].to_string())
}

fn read_text_line(conn: &mut LineConn) -> std::io::Result<Option<String>> {
    Ok(conn
        .read_line(100_000)?
        .map(|l| String::from_utf8_lossy(&l).into_owned()))
}

fn converse(shared: &Shared, conn: &mut LineConn) -> std::io::Result<()> {
    reply(conn, "220 hinomi-test ESMTP ready")?;
    let mut envelope = Envelope::default();
    let mut auth: Option<String> = None;
    loop {
        let Some(line) = read_text_line(conn)? else {
            return Ok(());
        };
        let (verb, arg) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                envelope = Envelope::default();
                let mut lines = vec!["250-hinomi-test greets you".to_string()];
                if shared.tls.is_some() && !conn.is_tls() {
                    lines.push("250-STARTTLS".to_string());
                }
                lines.push("250-SIZE 10485760".to_string());
                lines.push("250 AUTH PLAIN LOGIN".to_string());
                conn.send(format!("{}\r\n", lines.join("\r\n")).as_bytes())?;
            }
            "HELO" => {
                envelope = Envelope::default();
                reply(conn, "250 hinomi-test")?;
            }
            "STARTTLS" => {
                let Some(config) = shared.tls.as_ref().filter(|_| !conn.is_tls()) else {
                    reply(conn, "502 5.5.1 STARTTLS not available")?;
                    continue;
                };
                reply(conn, "220 2.0.0 ready to start TLS")?;
                if conn.has_buffered() {
                    return Ok(()); // plaintext sent after STARTTLS: drop the connection
                }
                let Some(tcp) = conn.take_tcp() else {
                    return Ok(());
                };
                let Some(stream) = server_handshake(config, tcp) else {
                    return Ok(());
                };
                conn.set_stream(stream);
                envelope = Envelope::default();
                auth = None;
            }
            "AUTH" => {
                if auth.is_some() {
                    reply(conn, "503 5.5.1 already authenticated")?;
                    continue;
                }
                match authenticate(shared, conn, arg)? {
                    Some(user) => {
                        auth = Some(user);
                        reply(conn, "235 2.7.0 authenticated")?;
                    }
                    None => reply(conn, "535 5.7.8 authentication failed")?,
                }
            }
            "MAIL" => {
                let Some(from) = path_argument(arg, "FROM:") else {
                    reply(conn, "501 5.5.4 syntax: MAIL FROM:<address>")?;
                    continue;
                };
                let fail = {
                    let mut state = shared.lock();
                    let fail = state.fail_next > 0;
                    state.fail_next = state.fail_next.saturating_sub(1);
                    fail
                };
                if fail {
                    reply(conn, "451 4.3.0 temporary failure, try again later")?;
                } else {
                    envelope = Envelope {
                        mail_from: Some(from),
                        rcpt_to: Vec::new(),
                    };
                    reply(conn, "250 2.1.0 sender ok")?;
                }
            }
            "RCPT" => {
                if envelope.mail_from.is_none() {
                    reply(conn, "503 5.5.1 need MAIL first")?;
                    continue;
                }
                let Some(to) = path_argument(arg, "TO:") else {
                    reply(conn, "501 5.5.4 syntax: RCPT TO:<address>")?;
                    continue;
                };
                let rejected = shared.lock().reject_rcpt.as_deref() == Some(to.as_str());
                if rejected {
                    reply(conn, "550 5.1.1 no such user here")?;
                } else {
                    envelope.rcpt_to.push(to);
                    reply(conn, "250 2.1.5 recipient ok")?;
                }
            }
            "DATA" => {
                let Some(mail_from) = envelope.mail_from.clone() else {
                    reply(conn, "503 5.5.1 need MAIL first")?;
                    continue;
                };
                if envelope.rcpt_to.is_empty() {
                    reply(conn, "554 5.5.1 no valid recipients")?;
                    continue;
                }
                reply(conn, "354 end data with <CR><LF>.<CR><LF>")?;
                let mut data = String::new();
                loop {
                    let Some(line) = read_text_line(conn)? else {
                        return Ok(());
                    };
                    if line == "." {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                    data.push_str("\r\n");
                }
                let received = Received {
                    mail_from,
                    rcpt_to: std::mem::take(&mut envelope.rcpt_to),
                    data,
                    tls: conn.is_tls(),
                    auth: auth.clone(),
                };
                envelope = Envelope::default();
                shared.lock().received.push(received);
                shared.arrived.notify_all();
                reply(conn, "250 2.0.0 queued")?;
            }
            "RSET" => {
                envelope = Envelope::default();
                reply(conn, "250 2.0.0 ok")?;
            }
            "NOOP" => reply(conn, "250 2.0.0 ok")?,
            "QUIT" => {
                reply(conn, "221 2.0.0 bye")?;
                return Ok(());
            }
            _ => reply(conn, "502 5.5.2 command not recognized")?,
        }
    }
}

/// Runs an AUTH exchange; the user name when the credentials are accepted.
fn authenticate(
    shared: &Shared,
    conn: &mut LineConn,
    arg: &str,
) -> std::io::Result<Option<String>> {
    let decode = |s: &str| {
        STANDARD
            .decode(s.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
    };
    let mut words = arg.split_whitespace();
    let mechanism = words.next().unwrap_or("").to_ascii_uppercase();
    let initial = words.next().map(str::to_string);
    let (user, password) = match mechanism.as_str() {
        "PLAIN" => {
            let token = match initial {
                Some(token) => token,
                None => {
                    reply(conn, "334 ")?;
                    read_text_line(conn)?.unwrap_or_default()
                }
            };
            let Some(decoded) = decode(&token) else {
                return Ok(None);
            };
            let mut parts = decoded.split('\0');
            let (Some(_authzid), Some(user), Some(password), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Ok(None);
            };
            (user.to_string(), password.to_string())
        }
        "LOGIN" => {
            let user = match initial {
                Some(token) => token,
                None => {
                    reply(conn, "334 VXNlcm5hbWU6")?;
                    read_text_line(conn)?.unwrap_or_default()
                }
            };
            reply(conn, "334 UGFzc3dvcmQ6")?;
            let password = read_text_line(conn)?.unwrap_or_default();
            match (decode(&user), decode(&password)) {
                (Some(user), Some(password)) => (user, password),
                _ => return Ok(None),
            }
        }
        _ => return Ok(None),
    };
    let accepted = match &shared.lock().credentials {
        Some((u, p)) => *u == user && *p == password,
        None => !user.is_empty(),
    };
    Ok(accepted.then_some(user))
}

// ---------------------------------------------------------------------------------------
// Decoding rendered messages

/// Header section and body of a message (split at the first empty line).
fn split_message(raw: &str) -> (&str, Option<&str>) {
    if let Some(body) = raw.strip_prefix("\r\n") {
        return ("", Some(body));
    }
    match (raw.find("\r\n\r\n"), raw.find("\n\n")) {
        (Some(i), _) => (&raw[..i], Some(&raw[i + 4..])),
        (None, Some(i)) => (&raw[..i], Some(&raw[i + 2..])),
        (None, None) => (raw, None),
    }
}

/// All header fields, unfolded, as (name, raw value).
fn header_fields(raw: &str) -> Vec<(String, String)> {
    let (head, _) = split_message(raw);
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in head.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_string(), value.to_string()));
        }
    }
    fields
}

/// The text body of a rendered message: base64 (or 7bit/8bit) decoded, CRLF turned back
/// into LF. `None` when there is no body or it does not decode as UTF-8.
pub fn decode_text_body(raw: &str) -> Option<String> {
    let (_, body) = split_message(raw);
    let body = body?;
    let encoding = header(raw, "Content-Transfer-Encoding")
        .unwrap_or_else(|| "7bit".to_string())
        .to_ascii_lowercase();
    let bytes = match encoding.as_str() {
        "base64" => {
            let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            STANDARD.decode(compact).ok()?
        }
        "7bit" | "8bit" | "binary" => body.as_bytes().to_vec(),
        _ => return None,
    };
    Some(String::from_utf8(bytes).ok()?.replace("\r\n", "\n"))
}

/// The first header called `name` (case-insensitive), unfolded, trimmed, with RFC 2047
/// encoded words (UTF-8 or US-ASCII, B or Q) decoded.
pub fn header(raw: &str, name: &str) -> Option<String> {
    header_fields(raw)
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, value)| decode_encoded_words(value.trim()))
}

/// Every header called `name` (case-insensitive), decoded like [`header`].
pub fn headers_named(raw: &str, name: &str) -> Vec<String> {
    header_fields(raw)
        .into_iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, value)| decode_encoded_words(value.trim()))
        .collect()
}

fn decode_encoded_words(value: &str) -> String {
    let mut out = String::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut rest = value;
    while let Some((start, end, bytes)) = find_encoded_word(rest) {
        let before = &rest[..start];
        // Whitespace between two encoded words is not part of the text (RFC 2047 6.2).
        if pending.is_empty() || !before.chars().all(char::is_whitespace) {
            out.push_str(&String::from_utf8_lossy(&std::mem::take(&mut pending)));
            out.push_str(before);
        }
        pending.extend(bytes);
        rest = &rest[end..];
    }
    out.push_str(&String::from_utf8_lossy(&pending));
    out.push_str(rest);
    out
}

/// The first decodable encoded word in `s`: (start, end, decoded bytes).
fn find_encoded_word(s: &str) -> Option<(usize, usize, Vec<u8>)> {
    let mut from = 0;
    while let Some(i) = s[from..].find("=?") {
        let start = from + i;
        if let Some((len, bytes)) = parse_encoded_word(&s[start..]) {
            return Some((start, start + len, bytes));
        }
        from = start + 2;
    }
    None
}

fn parse_encoded_word(word: &str) -> Option<(usize, Vec<u8>)> {
    let inner = word.strip_prefix("=?")?;
    let (charset, rest) = inner.split_once('?')?;
    let (encoding, rest) = rest.split_once('?')?;
    let text_len = rest.find("?=")?;
    let text = &rest[..text_len];
    if text.contains(char::is_whitespace) {
        return None;
    }
    let name = charset.split('*').next()?.to_ascii_lowercase();
    if name != "utf-8" && name != "us-ascii" {
        return None;
    }
    let bytes = match encoding {
        "B" | "b" => STANDARD.decode(text).ok()?,
        "Q" | "q" => {
            let mut bytes = Vec::with_capacity(text.len());
            let mut iter = text.bytes();
            while let Some(b) = iter.next() {
                match b {
                    b'_' => bytes.push(b' '),
                    b'=' => {
                        let hex = [iter.next()?, iter.next()?];
                        bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
                    }
                    b => bytes.push(b),
                }
            }
            bytes
        }
        _ => return None,
    };
    let len = 2 + charset.len() + 1 + encoding.len() + 1 + text_len + 2;
    Some((len, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_adjacent_encoded_words_and_q_encoding() {
        assert_eq!(
            decode_encoded_words("=?UTF-8?B?5pel?=\r\n =?UTF-8?B?5pys?= x"),
            "日本 x"
        );
        assert_eq!(decode_encoded_words("Re: =?utf-8?Q?a_b=3D?="), "Re: a b=");
        assert_eq!(decode_encoded_words("=?bogus"), "=?bogus");
    }

    #[test]
    fn headers_unfold() {
        let raw = "Subject: a\r\n b\r\nX: 1\r\n\r\nbody";
        assert_eq!(header(raw, "subject").as_deref(), Some("a b"));
        assert_eq!(header(raw, "x").as_deref(), Some("1"));
        assert_eq!(header(raw, "y"), None);
    }
}
