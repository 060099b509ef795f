//! E-mail: RFC 5322 / MIME rendering ([`render`]) and a small blocking SMTP client
//! ([`send`], RFC 5321) with STARTTLS (RFC 3207), implicit TLS and AUTH PLAIN / LOGIN.
//!
//! One connection per message. The body is always `text/plain; charset=UTF-8` in base64,
//! so the client needs neither 8BITMIME nor SMTPUTF8 from the server; addresses must be
//! ASCII (write international domains in punycode).
//!
//! Invariant: credentials are sent only over TLS, unless the operator chose
//! [`TlsMode::None`], which is the explicit permission to send them in clear (for a
//! trusted relay on the same host). With [`TlsMode::StartTls`] a server that does not
//! offer STARTTLS is an error, never a silent downgrade.

use std::fmt;
use std::io;
use std::net::{TcpStream, ToSocketAddrs as _};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_name, WebPkiServerVerifier};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
    StreamOwned,
};

use crate::line::{LineConn, Stream};

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain SMTP, no TLS. Credentials, if configured, go in clear: choosing this mode with
    /// a username is the operator's explicit permission to do so.
    None,
    /// Plain connection upgraded with STARTTLS before anything else is sent (usually port
    /// 587). Fails when the server does not offer STARTTLS.
    StartTls,
    /// TLS from the first byte (usually port 465).
    Implicit,
}

/// Where and how to send mail. `Debug` redacts the password.
#[derive(Clone)]
pub struct SmtpConfig {
    /// Server host name or IP address; also the name its TLS certificate must carry.
    pub host: String,
    /// Server port, e.g. 587 for STARTTLS, 465 for implicit TLS, 25.
    pub port: u16,
    /// Transport protection.
    pub tls: TlsMode,
    /// AUTH user name; AUTH happens when both this and `password` are set.
    pub username: Option<String>,
    /// AUTH password.
    pub password: Option<String>,
    /// Envelope sender (`MAIL FROM`) and `From` address.
    pub from: String,
    /// Display name in the `From` header.
    pub from_name: Option<String>,
    /// Name given in `EHLO`.
    pub helo_name: String,
    /// Timeout for connecting and for each read or write.
    pub timeout: Duration,
    /// Extra trusted CA certificates (PEM), besides the system roots.
    pub ca_file: Option<PathBuf>,
}

impl SmtpConfig {
    /// A configuration with STARTTLS, no credentials, `EHLO localhost` and a 30 s timeout.
    pub fn new(host: &str, port: u16, from: &str) -> SmtpConfig {
        SmtpConfig {
            host: host.to_string(),
            port,
            tls: TlsMode::StartTls,
            username: None,
            password: None,
            from: from.to_string(),
            from_name: None,
            helo_name: "localhost".to_string(),
            timeout: Duration::from_secs(30),
            ca_file: None,
        }
    }
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("from", &self.from)
            .field("from_name", &self.from_name)
            .field("helo_name", &self.helo_name)
            .field("timeout", &self.timeout)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// One plain-text message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Email {
    /// Recipients; all appear in the `To` header (send one message per recipient to keep
    /// them from seeing each other).
    pub to: Vec<String>,
    /// Subject, any UTF-8; control characters become spaces.
    pub subject: String,
    /// Body, any UTF-8. Line breaks are sent as CRLF.
    pub text: String,
    /// `Message-ID` without angle brackets, e.g. `abc@hinomi`.
    pub message_id: String,
    /// Extra headers, e.g. `("X-Hinomi-Warning", "...")`. Headers the renderer writes
    /// itself (From, To, Subject, ...) and names that are not valid field names are
    /// skipped; control characters in values become spaces.
    pub headers: Vec<(String, String)>,
    /// Time for the `Date` header, unix seconds.
    pub date_unix: i64,
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SmtpError {
    /// An address (sender or recipient) is not acceptable.
    #[error("invalid {field} address {address:?}: {reason}")]
    InvalidAddress {
        field: &'static str,
        address: String,
        reason: String,
    },
    /// The message cannot be sent as given (no recipients, bad message id).
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    /// The configuration is unusable (e.g. unreadable `ca_file`).
    #[error("invalid SMTP configuration: {0}")]
    Config(String),
    /// No TCP connection could be made.
    #[error("cannot connect to {server}: {message}")]
    Connect { server: String, message: String },
    /// A read or write took longer than the configured timeout.
    #[error("timed out after {timeout:?} during {stage}")]
    Timeout { stage: String, timeout: Duration },
    /// The connection failed or was closed.
    #[error("I/O error during {stage}: {message}")]
    Io { stage: String, message: String },
    /// The TLS handshake failed (e.g. an untrusted certificate).
    #[error("TLS with {server} failed: {message}")]
    Tls { server: String, message: String },
    /// [`TlsMode::StartTls`] is configured but the server does not offer STARTTLS.
    #[error("{server} does not offer STARTTLS, which the configuration requires")]
    StartTlsNotOffered { server: String },
    /// Credentials are configured but the server offers neither AUTH PLAIN nor LOGIN.
    #[error("server offers no AUTH mechanism this client supports (PLAIN, LOGIN); it offers: {offered:?}")]
    NoAuthMechanism { offered: String },
    /// The server answered a command with an error reply.
    #[error("server replied {code} to {stage}: {message}")]
    Reply {
        stage: String,
        code: u16,
        message: String,
    },
    /// The server refused a recipient; nothing was sent to anyone.
    #[error("server refused recipient {recipient:?} with {code}: {message}")]
    RecipientRejected {
        recipient: String,
        code: u16,
        message: String,
    },
    /// The server sent something that is not a valid SMTP reply.
    #[error("malformed SMTP reply during {stage}: {message}")]
    Protocol { stage: String, message: String },
}

impl SmtpError {
    /// Whether retrying the same message cannot help: a 5xx reply, or input or
    /// configuration that will not change by itself. 4xx replies, I/O, timeouts, TLS
    /// failures and a missing STARTTLS (possibly an attacker stripping it) are transient.
    pub fn is_permanent(&self) -> bool {
        match self {
            SmtpError::Reply { code, .. } | SmtpError::RecipientRejected { code, .. } => {
                (500..600).contains(code)
            }
            SmtpError::InvalidAddress { .. }
            | SmtpError::InvalidMessage(_)
            | SmtpError::Config(_)
            | SmtpError::NoAuthMechanism { .. } => true,
            SmtpError::Connect { .. }
            | SmtpError::Timeout { .. }
            | SmtpError::Io { .. }
            | SmtpError::Tls { .. }
            | SmtpError::StartTlsNotOffered { .. }
            | SmtpError::Protocol { .. } => false,
        }
    }

    /// The SMTP reply code, when the error is a server reply.
    pub fn code(&self) -> Option<u16> {
        match self {
            SmtpError::Reply { code, .. } | SmtpError::RecipientRejected { code, .. } => {
                Some(*code)
            }
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Rendering

/// Headers the renderer writes itself; extra headers with these names are skipped.
const RESERVED_HEADERS: &[&str] = &[
    "from",
    "to",
    "cc",
    "bcc",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "sender",
    "return-path",
];

/// The full message (headers and base64 body) with CRLF line endings, ready for DATA.
///
/// Header values never contain line breaks: control characters become spaces, so a
/// subject like `"x\r\nBcc: y"` cannot add a header. Non-ASCII values are RFC 2047
/// encoded words; long values are folded. Use [`send`] to also validate the addresses.
pub fn render(cfg: &SmtpConfig, email: &Email) -> String {
    let mut out = String::with_capacity(512 + email.text.len() * 4 / 3);
    push_header(&mut out, "From", &from_value(cfg));
    push_header(&mut out, "To", &address_list(&email.to));
    push_header(
        &mut out,
        "Subject",
        &unstructured("Subject", &email.subject),
    );
    push_header(&mut out, "Date", &format_date(email.date_unix));
    push_header(
        &mut out,
        "Message-ID",
        &format!("<{}>", clean_message_id(&email.message_id)),
    );
    push_header(&mut out, "MIME-Version", "1.0");
    push_header(&mut out, "Content-Type", "text/plain; charset=UTF-8");
    push_header(&mut out, "Content-Transfer-Encoding", "base64");
    for (name, value) in &email.headers {
        let lower = name.to_ascii_lowercase();
        if !is_field_name(name) || RESERVED_HEADERS.contains(&lower.as_str()) {
            continue;
        }
        push_header(&mut out, name, &unstructured(name, value));
    }
    out.push_str("\r\n");

    let canonical = email
        .text
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .collect::<Vec<_>>()
        .join("\r\n");
    let encoded = STANDARD.encode(canonical.as_bytes());
    for chunk in encoded.as_bytes().chunks(76) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push_str("\r\n");
    }
    out
}

fn push_header(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str(": ");
    out.push_str(value);
    out.push_str("\r\n");
}

/// RFC 5322 field name: printable ASCII except `:`.
fn is_field_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 76
        && name.bytes().all(|b| (33..=126).contains(&b) && b != b':')
}

/// Control characters (CR, LF, tab, ...) become spaces.
fn clean(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// An unstructured header value: as is when it is short ASCII, folded at spaces when it is
/// long ASCII, RFC 2047 encoded words otherwise.
fn unstructured(name: &str, value: &str) -> String {
    let value = clean(value);
    if value.is_ascii() && !value.contains("=?") {
        if let Some(folded) = fold_ascii(name.len() + 2, &value) {
            return folded;
        }
    }
    encoded_words(&value).join("\r\n ")
}

/// Folds ASCII text at spaces so lines stay near 78 characters; `None` when a single word
/// is too long for a line.
fn fold_ascii(first_line: usize, value: &str) -> Option<String> {
    let mut out = String::with_capacity(value.len() + 8);
    let mut line = first_line;
    for (i, word) in value.split(' ').enumerate() {
        if word.len() > 900 {
            return None;
        }
        if i > 0 {
            if !word.is_empty() && line + 1 + word.len() > 78 {
                out.push_str("\r\n");
                line = 0;
            }
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += word.len();
    }
    Some(out)
}

/// RFC 2047 `=?UTF-8?B?...?=` words of at most 64 characters, split between characters.
fn encoded_words(value: &str) -> Vec<String> {
    const MAX_BYTES: usize = 39; // 52 base64 characters
    let mut words = Vec::new();
    let mut start = 0;
    while start < value.len() {
        let mut end = (start + MAX_BYTES).min(value.len());
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        words.push(format!(
            "=?UTF-8?B?{}?=",
            STANDARD.encode(&value[start..end])
        ));
        start = end;
    }
    if words.is_empty() {
        words.push(String::new());
    }
    words
}

fn from_value(cfg: &SmtpConfig) -> String {
    let address = clean_address(&cfg.from);
    let name = cfg.from_name.as_deref().map(clean).unwrap_or_default();
    let name = name.trim();
    if name.is_empty() {
        return address;
    }
    if name.is_ascii() && !name.contains("=?") && name.len() <= 60 {
        let quoted = name.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{quoted}\" <{address}>")
    } else {
        format!("{} <{address}>", encoded_words(name).join("\r\n "))
    }
}

/// Removes what could break the header syntax; [`send`] rejects such addresses instead.
fn clean_address(address: &str) -> String {
    address
        .chars()
        .filter(|c| !c.is_control() && !c.is_whitespace() && !"<>,;\"".contains(*c))
        .collect()
}

fn address_list(addresses: &[String]) -> String {
    let mut out = String::new();
    let mut line = "To: ".len();
    for (i, address) in addresses.iter().enumerate() {
        let address = clean_address(address);
        if i > 0 {
            out.push(',');
            if line + 2 + address.len() > 78 {
                out.push_str("\r\n");
                line = 0;
            }
            out.push(' ');
            line += 2;
        }
        line += address.len();
        out.push_str(&address);
    }
    out
}

fn clean_message_id(id: &str) -> String {
    let id = id.trim();
    let id = id.strip_prefix('<').unwrap_or(id);
    let id = id.strip_suffix('>').unwrap_or(id);
    id.chars()
        .filter(|c| c.is_ascii_graphic() && !"<>".contains(*c))
        .collect()
}

/// RFC 5322 date in UTC, e.g. `Thu, 01 Jan 1970 00:00:00 +0000`. Times before 1970 or
/// after 9999 are clamped to those years.
pub(crate) fn format_date(unix: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let unix = unix.clamp(0, 253_402_300_799);
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let weekday = (days + 4).rem_euclid(7) as usize;
    format!(
        "{}, {day:02} {} {year:04} {:02}:{:02}:{:02} +0000",
        DAYS[weekday],
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31); Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The message as DATA content: CRLF line endings, lines starting with `.` doubled, and
/// the terminating `.` line.
pub(crate) fn dot_stuff(message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 16);
    let body = message.strip_suffix('\n').unwrap_or(message);
    if !message.is_empty() {
        for line in body.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.starts_with('.') {
                out.push(b'.');
            }
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b".\r\n");
    out
}

// ---------------------------------------------------------------------------------------
// Validation

fn check_address(field: &'static str, address: &str) -> Result<(), SmtpError> {
    let bad = |reason: &str| {
        Err(SmtpError::InvalidAddress {
            field,
            address: address.to_string(),
            reason: reason.to_string(),
        })
    };
    if address.is_empty() {
        return bad("empty");
    }
    if address.len() > 254 {
        return bad("longer than 254 bytes");
    }
    if address.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return bad("contains whitespace or a control character");
    }
    if !address.is_ascii() {
        return bad("not ASCII; SMTPUTF8 is not supported (write the domain in punycode)");
    }
    if let Some(c) = address.chars().find(|c| "<>,;\"()\\".contains(*c)) {
        return bad(&format!("contains {c:?}"));
    }
    match address.rsplit_once('@') {
        None => bad("has no @"),
        Some(("", _)) => bad("the part before @ is empty"),
        Some((_, "")) => bad("the domain after @ is empty"),
        Some(_) => Ok(()),
    }
}

fn check_config(cfg: &SmtpConfig) -> Result<(), SmtpError> {
    let config = |m: String| Err(SmtpError::Config(m));
    if cfg.host.is_empty()
        || cfg
            .host
            .chars()
            .any(|c| c.is_control() || c.is_whitespace())
    {
        return config(format!(
            "host {:?} is empty or contains whitespace",
            cfg.host
        ));
    }
    if cfg.port == 0 {
        return config("port is 0".to_string());
    }
    if cfg.helo_name.is_empty() || !cfg.helo_name.chars().all(|c| c.is_ascii_graphic()) {
        return config(format!(
            "helo_name {:?} must be non-empty printable ASCII without spaces",
            cfg.helo_name
        ));
    }
    if cfg.timeout.is_zero() {
        return config("timeout is zero".to_string());
    }
    match (&cfg.username, &cfg.password) {
        (Some(_), None) => return config("username is set but password is not".to_string()),
        (None, Some(_)) => return config("password is set but username is not".to_string()),
        (Some(u), Some(p)) if u.contains('\0') || p.contains('\0') => {
            return config("username or password contains a NUL character".to_string())
        }
        (Some(u), _) if u.is_empty() => return config("username is empty".to_string()),
        _ => {}
    }
    check_address("from", &cfg.from)
}

fn check_message_id(id: &str) -> Result<(), SmtpError> {
    let trimmed = id.trim();
    let trimmed = trimmed.strip_prefix('<').unwrap_or(trimmed);
    let inner = trimmed.strip_suffix('>').unwrap_or(trimmed);
    let valid = inner.contains('@')
        && !inner.starts_with('@')
        && !inner.ends_with('@')
        && inner
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '<' && c != '>');
    if valid {
        Ok(())
    } else {
        Err(SmtpError::InvalidMessage(format!(
            "message_id {id:?} must look like `unique@domain` (printable ASCII, no spaces)"
        )))
    }
}

fn check_recipients(to: &[String]) -> Result<(), SmtpError> {
    if to.is_empty() {
        return Err(SmtpError::InvalidMessage("no recipients".to_string()));
    }
    to.iter().try_for_each(|a| check_address("to", a))
}

// ---------------------------------------------------------------------------------------
// Sending

/// Sends one message over one connection: greeting, EHLO, STARTTLS (when configured) and
/// EHLO again, AUTH (when credentials are set), MAIL FROM, RCPT TO for every recipient,
/// DATA, QUIT. Fails without sending when any recipient is refused.
pub fn send(cfg: &SmtpConfig, email: &Email) -> Result<(), SmtpError> {
    check_config(cfg)?;
    check_recipients(&email.to)?;
    check_message_id(&email.message_id)?;
    deliver(cfg, &email.to, &render(cfg, email))
}

/// Sends an already rendered message (headers and body; bare LF line endings are turned
/// into CRLF, dot-stuffing is done here) to `to`, with `cfg.from` as envelope sender.
/// Lines must not exceed 998 bytes.
pub fn send_raw(cfg: &SmtpConfig, to: &[String], message: &str) -> Result<(), SmtpError> {
    check_config(cfg)?;
    check_recipients(to)?;
    deliver(cfg, to, message)
}

/// Longest reply line accepted (RFC 5321 allows 512; be lenient).
const MAX_REPLY_LINE: usize = 4096;
/// Most lines in one multi-line reply.
const MAX_REPLY_LINES: usize = 200;

fn deliver(cfg: &SmtpConfig, to: &[String], message: &str) -> Result<(), SmtpError> {
    let server = format!("{}:{}", cfg.host, cfg.port);
    let tcp = connect(cfg, &server)?;
    let stream = if cfg.tls == TlsMode::Implicit {
        tls_handshake(cfg, &server, tcp)?
    } else {
        Stream::Plain(tcp)
    };
    let mut session = Session {
        conn: LineConn::new(stream),
        cfg,
        server,
    };
    let result = session.transaction(to, message);
    match &result {
        Ok(()) => {}
        // The server is still talking: end the session politely.
        Err(
            SmtpError::Reply { .. }
            | SmtpError::RecipientRejected { .. }
            | SmtpError::StartTlsNotOffered { .. }
            | SmtpError::NoAuthMechanism { .. },
        ) => session.quit(),
        Err(_) => session.conn.shutdown(),
    }
    result
}

fn connect(cfg: &SmtpConfig, server: &str) -> Result<TcpStream, SmtpError> {
    let failed = |message: String| SmtpError::Connect {
        server: server.to_string(),
        message,
    };
    let addrs = (cfg.host.as_str(), cfg.port)
        .to_socket_addrs()
        .map_err(|e| failed(format!("cannot resolve the host: {e}")))?;
    let mut last = "the host resolved to no address".to_string();
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, cfg.timeout) {
            Ok(tcp) => {
                let setup = tcp
                    .set_read_timeout(Some(cfg.timeout))
                    .and_then(|()| tcp.set_write_timeout(Some(cfg.timeout)))
                    .and_then(|()| tcp.set_nodelay(true));
                return match setup {
                    Ok(()) => Ok(tcp),
                    Err(e) => Err(failed(e.to_string())),
                };
            }
            Err(e) if is_timeout(&e) => last = format!("{addr}: timed out after {:?}", cfg.timeout),
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(failed(last))
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Certificates of the system trust store, read once from the usual bundle files
/// (`SSL_CERT_FILE` first).
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut candidates: Vec<PathBuf> = std::env::var_os("SSL_CERT_FILE")
            .map(PathBuf::from)
            .into_iter()
            .collect();
        candidates.extend(
            [
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/pki/tls/certs/ca-bundle.crt",
                "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
                "/etc/ssl/ca-bundle.pem",
                "/etc/ssl/cert.pem",
                "/usr/local/share/certs/ca-root-nss.crt",
                "/opt/homebrew/etc/openssl@3/cert.pem",
                "/usr/local/etc/openssl@3/cert.pem",
            ]
            .map(PathBuf::from),
        );
        for path in candidates {
            let Ok(iter) = CertificateDer::pem_file_iter(&path) else {
                continue;
            };
            let certs: Vec<_> = iter.filter_map(Result::ok).collect();
            if !certs.is_empty() {
                return certs;
            }
        }
        Vec::new()
    })
}

fn client_config(cfg: &SmtpConfig, server: &str) -> Result<Arc<ClientConfig>, SmtpError> {
    let tls_error = |e: &dyn fmt::Display| SmtpError::Tls {
        server: server.to_string(),
        message: e.to_string(),
    };
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(system_roots().iter().cloned());
    let mut pinned = Vec::new();
    if let Some(path) = &cfg.ca_file {
        let bad =
            |e: &dyn fmt::Display| SmtpError::Config(format!("ca_file {}: {e}", path.display()));
        pinned = CertificateDer::pem_file_iter(path)
            .map_err(|e| bad(&e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(&e))?;
        if pinned.is_empty() {
            return Err(bad(&"holds no PEM certificate"));
        }
        for cert in &pinned {
            roots.add(cert.clone()).map_err(|e| bad(&e))?;
        }
    }
    if roots.is_empty() {
        return Err(tls_error(
            &"no trusted root certificates: no system bundle found and no ca_file",
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(&e))?;
    let config = if pinned.is_empty() {
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| tls_error(&e))?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(CaFileVerifier { webpki, pinned }))
            .with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// Standard WebPKI verification, plus one exception for the certificates of `ca_file`: a
/// server presenting exactly one of them is accepted even though the certificate is marked
/// as a CA (`openssl req -x509` makes self-signed certificates with `CA:TRUE`, which WebPKI
/// refuses as a server certificate). Validity period and host name are still checked, and
/// the handshake signatures are verified as usual.
#[derive(Debug)]
struct CaFileVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
}

fn is_ca_used_as_end_entity(error: &rustls::Error) -> bool {
    // webpki checks validity before basic constraints, so this error also means the
    // certificate is within its validity period.
    matches!(
        error,
        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other))
            if format!("{other:?}").contains("CaUsedAsEndEntity")
    )
}

impl ServerCertVerifier for CaFileVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(e)
                if is_ca_used_as_end_entity(&e)
                    && self
                        .pinned
                        .iter()
                        .any(|c| c.as_ref() == end_entity.as_ref()) =>
            {
                let parsed = ParsedCertificate::try_from(end_entity)?;
                verify_server_name(&parsed, server_name)?;
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

fn tls_handshake(cfg: &SmtpConfig, server: &str, mut tcp: TcpStream) -> Result<Stream, SmtpError> {
    let config = client_config(cfg, server)?;
    let name = ServerName::try_from(cfg.host.clone()).map_err(|_| {
        SmtpError::Config(format!(
            "host {:?} is not a DNS name or IP address usable for TLS",
            cfg.host
        ))
    })?;
    let failed = |message: String| SmtpError::Tls {
        server: server.to_string(),
        message,
    };
    let mut conn = ClientConnection::new(config, name).map_err(|e| failed(e.to_string()))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).map_err(|e| {
            if is_timeout(&e) {
                failed(format!("handshake timed out after {:?}", cfg.timeout))
            } else {
                failed(e.to_string())
            }
        })?;
    }
    Ok(Stream::Client(Box::new(StreamOwned::new(conn, tcp))))
}

struct Reply {
    code: u16,
    lines: Vec<String>,
}

impl Reply {
    fn text(&self) -> String {
        let mut text = self.lines.join(" ");
        if text.len() > 300 {
            let mut cut = 300;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str("...");
        }
        text
    }
}

#[derive(Default)]
struct Capabilities {
    starttls: bool,
    auth: Vec<String>,
}

struct Session<'a> {
    conn: LineConn,
    cfg: &'a SmtpConfig,
    server: String,
}

impl Session<'_> {
    fn io_error(&self, stage: &str, e: io::Error) -> SmtpError {
        if is_timeout(&e) {
            SmtpError::Timeout {
                stage: stage.to_string(),
                timeout: self.cfg.timeout,
            }
        } else {
            SmtpError::Io {
                stage: stage.to_string(),
                message: e.to_string(),
            }
        }
    }

    fn read_reply(&mut self, stage: &str) -> Result<Reply, SmtpError> {
        let protocol = |message: String| SmtpError::Protocol {
            stage: stage.to_string(),
            message,
        };
        let mut code = None;
        let mut lines = Vec::new();
        loop {
            let line = match self.conn.read_line(MAX_REPLY_LINE) {
                Ok(Some(line)) => String::from_utf8_lossy(&line).into_owned(),
                Ok(None) => {
                    return Err(SmtpError::Io {
                        stage: stage.to_string(),
                        message: "the server closed the connection".to_string(),
                    })
                }
                Err(e) => return Err(self.io_error(stage, e)),
            };
            let bytes = line.as_bytes();
            let valid = bytes.len() >= 3
                && bytes[..3].iter().all(u8::is_ascii_digit)
                && matches!(bytes.get(3), None | Some(b' ') | Some(b'-'));
            if !valid {
                let shown: String = line.chars().take(80).collect();
                return Err(protocol(format!("not an SMTP reply line: {shown:?}")));
            }
            let this: u16 = line[..3].parse().unwrap_or(0);
            if *code.get_or_insert(this) != this {
                return Err(protocol(format!(
                    "multi-line reply mixes codes {} and {this}",
                    code.unwrap_or(0)
                )));
            }
            lines.push(line.get(4..).unwrap_or("").to_string());
            if bytes.get(3) != Some(&b'-') {
                break;
            }
            if lines.len() > MAX_REPLY_LINES {
                return Err(protocol(format!(
                    "reply longer than {MAX_REPLY_LINES} lines"
                )));
            }
        }
        Ok(Reply {
            code: code.unwrap_or(0),
            lines,
        })
    }

    /// Sends one command line; `stage` names it in errors (never the line, which may hold
    /// credentials).
    fn command(&mut self, line: &str, stage: &str) -> Result<Reply, SmtpError> {
        let mut data = Vec::with_capacity(line.len() + 2);
        data.extend_from_slice(line.as_bytes());
        data.extend_from_slice(b"\r\n");
        self.conn.send(&data).map_err(|e| self.io_error(stage, e))?;
        self.read_reply(stage)
    }

    /// `reply` if its code is in the class of `expected` (2 for 2xx, 3 for 3xx).
    fn expect(reply: Reply, expected: u16, stage: &str) -> Result<Reply, SmtpError> {
        if reply.code / 100 == expected {
            Ok(reply)
        } else {
            Err(SmtpError::Reply {
                stage: stage.to_string(),
                code: reply.code,
                message: reply.text(),
            })
        }
    }

    fn ehlo(&mut self) -> Result<Capabilities, SmtpError> {
        let reply = self.command(&format!("EHLO {}", self.cfg.helo_name), "EHLO")?;
        let reply = match Self::expect(reply, 2, "EHLO") {
            Ok(reply) => reply,
            Err(e) => {
                // A server without ESMTP; fine as long as nothing needs an extension.
                let may_fall_back = matches!(e.code(), Some(500 | 502))
                    && self.cfg.tls == TlsMode::None
                    && self.cfg.username.is_none();
                if !may_fall_back {
                    return Err(e);
                }
                let reply = self.command(&format!("HELO {}", self.cfg.helo_name), "HELO")?;
                Self::expect(reply, 2, "HELO")?;
                return Ok(Capabilities::default());
            }
        };
        let mut caps = Capabilities::default();
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split([' ', '=']);
            match words.next().map(str::to_ascii_uppercase).as_deref() {
                Some("STARTTLS") => caps.starttls = true,
                Some("AUTH") => caps
                    .auth
                    .extend(words.filter(|w| !w.is_empty()).map(str::to_ascii_uppercase)),
                _ => {}
            }
        }
        Ok(caps)
    }

    fn starttls(&mut self) -> Result<(), SmtpError> {
        let reply = self.command("STARTTLS", "STARTTLS")?;
        Self::expect(reply, 2, "STARTTLS")?;
        if self.conn.has_buffered() {
            return Err(SmtpError::Protocol {
                stage: "STARTTLS".to_string(),
                message: "the server sent data before the TLS handshake (possible injection)"
                    .to_string(),
            });
        }
        let tcp = self.conn.take_tcp().ok_or_else(|| SmtpError::Io {
            stage: "STARTTLS".to_string(),
            message: "connection lost".to_string(),
        })?;
        let stream = tls_handshake(self.cfg, &self.server, tcp)?;
        self.conn.set_stream(stream);
        Ok(())
    }

    fn auth(&mut self, caps: &Capabilities, user: &str, password: &str) -> Result<(), SmtpError> {
        if caps.auth.iter().any(|m| m == "PLAIN") {
            let token = STANDARD.encode(format!("\0{user}\0{password}"));
            let reply = self.command(&format!("AUTH PLAIN {token}"), "AUTH PLAIN")?;
            Self::expect(reply, 2, "AUTH PLAIN")?;
        } else if caps.auth.iter().any(|m| m == "LOGIN") {
            let reply = self.command("AUTH LOGIN", "AUTH LOGIN")?;
            Self::expect(reply, 3, "AUTH LOGIN")?;
            let reply = self.command(&STANDARD.encode(user), "AUTH LOGIN (user name)")?;
            Self::expect(reply, 3, "AUTH LOGIN (user name)")?;
            let reply = self.command(&STANDARD.encode(password), "AUTH LOGIN (password)")?;
            Self::expect(reply, 2, "AUTH LOGIN (password)")?;
        } else {
            return Err(SmtpError::NoAuthMechanism {
                offered: caps.auth.join(" "),
            });
        }
        Ok(())
    }

    fn transaction(&mut self, to: &[String], message: &str) -> Result<(), SmtpError> {
        let greeting = self.read_reply("greeting")?;
        Self::expect(greeting, 2, "greeting")?;
        let mut caps = self.ehlo()?;
        if self.cfg.tls == TlsMode::StartTls {
            if !caps.starttls {
                return Err(SmtpError::StartTlsNotOffered {
                    server: self.server.clone(),
                });
            }
            self.starttls()?;
            caps = self.ehlo()?;
        }
        if let (Some(user), Some(password)) = (&self.cfg.username, &self.cfg.password) {
            self.auth(&caps, user, password)?;
        }
        let reply = self.command(&format!("MAIL FROM:<{}>", self.cfg.from), "MAIL FROM")?;
        Self::expect(reply, 2, "MAIL FROM")?;
        for recipient in to {
            let reply = self.command(&format!("RCPT TO:<{recipient}>"), "RCPT TO")?;
            if reply.code / 100 != 2 {
                return Err(SmtpError::RecipientRejected {
                    recipient: recipient.clone(),
                    code: reply.code,
                    message: reply.text(),
                });
            }
        }
        let reply = self.command("DATA", "DATA")?;
        Self::expect(reply, 3, "DATA")?;
        self.conn
            .send(&dot_stuff(message))
            .map_err(|e| self.io_error("message data", e))?;
        let reply = self.read_reply("end of message data")?;
        Self::expect(reply, 2, "end of message data")?;
        self.quit();
        Ok(())
    }

    /// Best effort: QUIT, close TLS, close the connection. Errors are ignored: the message
    /// is either already accepted or the transaction already failed.
    fn quit(&mut self) {
        if self.conn.send(b"QUIT\r\n").is_ok() {
            let _ = self.read_reply("QUIT");
        }
        self.conn.close_tls();
        self.conn.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_match_known_values() {
        assert_eq!(format_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(format_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
        assert_eq!(
            format_date(1_700_000_000),
            "Tue, 14 Nov 2023 22:13:20 +0000"
        );
        assert_eq!(
            format_date(4_102_444_799),
            "Thu, 31 Dec 2099 23:59:59 +0000"
        );
        assert_eq!(format_date(-1), format_date(0));
        assert_eq!(format_date(i64::MAX), "Fri, 31 Dec 9999 23:59:59 +0000");
    }

    #[test]
    fn dot_stuffing_doubles_leading_dots_and_terminates() {
        assert_eq!(
            dot_stuff("a\r\n.b\r\n..c\r\n"),
            b"a\r\n..b\r\n...c\r\n.\r\n"
        );
        assert_eq!(dot_stuff("a\n.\nb"), b"a\r\n..\r\nb\r\n.\r\n");
        assert_eq!(dot_stuff(""), b".\r\n");
    }

    #[test]
    fn encoded_words_split_between_characters() {
        let text = "日本語".repeat(20);
        let words = encoded_words(&text);
        assert!(words.len() > 1);
        let mut bytes = Vec::new();
        for w in &words {
            assert!(w.len() <= 75, "{w}");
            let b64 = w
                .strip_prefix("=?UTF-8?B?")
                .unwrap()
                .strip_suffix("?=")
                .unwrap();
            let part = STANDARD.decode(b64).unwrap();
            assert!(std::str::from_utf8(&part).is_ok());
            bytes.extend(part);
        }
        assert_eq!(String::from_utf8(bytes).unwrap(), text);
    }

    #[test]
    fn long_ascii_subjects_fold_at_spaces() {
        let subject = "word ".repeat(40);
        let folded = unstructured("Subject", subject.trim_end());
        assert!(folded.contains("\r\n "));
        assert!(folded.split("\r\n").all(|l| l.len() <= 78));
        assert_eq!(folded.replace("\r\n", ""), subject.trim_end());
    }

    #[test]
    fn addresses_are_checked() {
        for bad in [
            "",
            "no-at",
            "@example.org",
            "a@",
            "a b@example.org",
            "a@example.org\r\nRCPT TO:<x@y>",
            "<a@example.org>",
            "山田@example.org",
            "a,b@example.org",
        ] {
            assert!(check_address("to", bad).is_err(), "{bad:?}");
        }
        assert!(check_address("to", "soc+alerts@cert.example.jp").is_ok());
        assert!(check_address("to", "x@[127.0.0.1]").is_ok());
    }

    #[test]
    fn debug_redacts_the_password() {
        let mut cfg = SmtpConfig::new("smtp.example.org", 587, "hub@example.org");
        cfg.username = Some("hub".into());
        cfg.password = Some("hunter2-very-secret".into());
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("***"));
    }

    #[test]
    fn errors_classify_permanence() {
        let reply = |code| SmtpError::Reply {
            stage: "MAIL FROM".into(),
            code,
            message: String::new(),
        };
        assert!(reply(550).is_permanent());
        assert!(!reply(451).is_permanent());
        assert!(!SmtpError::Timeout {
            stage: "DATA".into(),
            timeout: Duration::from_secs(1)
        }
        .is_permanent());
    }
}
