//! A webhook receiver for tests and benchmarks: an HTTP/1.1 server on
//! `127.0.0.1:<free port>` (a thread per connection, keep-alive) that records every
//! POST with its headers and body, and can be told to fail.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct WebhookRequest {
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Whether it was answered 200 or a configured redirect (false: an injected failure,
    /// answered 503).
    pub accepted: bool,
    pub at: Instant,
}

impl WebhookRequest {
    /// A header's value (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let n = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<WebhookRequest>>,
    fail_first: Mutex<HashMap<String, usize>>,
    redirects: Mutex<HashMap<String, String>>,
    down: AtomicBool,
    drop_reused: AtomicBool,
    /// Milliseconds each answer waits.
    delay_ms: std::sync::atomic::AtomicU64,
    /// While true, answers wait (after the request is recorded) until it is false.
    held: Mutex<bool>,
    released: Condvar,
    stop: AtomicBool,
    cv: Condvar,
}

/// The receiver; stops accepting when dropped.
pub struct WebhookReceiver {
    port: u16,
    shared: Arc<Shared>,
}

impl WebhookReceiver {
    /// Starts on a free loopback port. Panics if it cannot bind (test code).
    pub fn start() -> WebhookReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let shared = Arc::new(Shared::default());
        let s2 = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s2.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let s3 = s2.clone();
                std::thread::spawn(move || serve(conn, &s3));
            }
        });
        WebhookReceiver { port, shared }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Answers 503 to the first `n` requests to `path`.
    pub fn fail_first(&self, path: &str, n: usize) {
        self.shared
            .fail_first
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(path.to_string(), n);
    }

    /// Answers `302 Found` with `location` to every request to `path`.
    pub fn redirect(&self, path: &str, location: &str) {
        self.shared
            .redirects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(path.to_string(), location.to_string());
    }

    /// While set, a request arriving on a kept-alive connection (not its first) is
    /// read and the connection closed without an answer, as when a receiver's idle
    /// timeout closes a connection just as the sender reuses it.
    pub fn drop_reused_connections(&self, on: bool) {
        self.shared.drop_reused.store(on, Ordering::SeqCst);
    }

    /// Each answer waits this long (to make a sender's requests overlap).
    pub fn delay_answers(&self, delay: Duration) {
        self.shared
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// While on, each request is recorded and its answer then waits until this is
    /// turned off (to act while the sender waits for an answer).
    pub fn hold_answers(&self, on: bool) {
        *self.shared.held.lock().unwrap_or_else(|p| p.into_inner()) = on;
        self.shared.released.notify_all();
    }

    /// While down, every request is answered 503.
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<WebhookRequest> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits until `done` holds for the requests so far, or `timeout`; returns whether
    /// it held.
    pub fn wait_until(&self, timeout: Duration, done: impl Fn(&[WebhookRequest]) -> bool) -> bool {
        let end = Instant::now() + timeout;
        let mut g = self
            .shared
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        loop {
            if done(&g) {
                return true;
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            g = self
                .shared
                .cv
                .wait_timeout(g, left.min(Duration::from_millis(100)))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(conn: TcpStream, s: &Shared) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(mut out) = conn.try_clone() else {
        return;
    };
    let mut r = BufReader::new(conn);
    let mut served = 0usize;
    loop {
        let mut line = String::new();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        let mut headers = Vec::new();
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                let k = k.trim().to_ascii_lowercase();
                let v = v.trim().to_string();
                if k == "content-length" {
                    len = v.parse().unwrap_or(0);
                }
                headers.push((k, v));
            }
        }
        let mut body = vec![0u8; len.min(64 << 20)];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        served += 1;
        if served > 1 && s.drop_reused.load(Ordering::SeqCst) {
            return;
        }
        let fail = s.down.load(Ordering::SeqCst) || {
            let mut f = s.fail_first.lock().unwrap_or_else(|p| p.into_inner());
            match f.get_mut(&path) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    true
                }
                _ => false,
            }
        };
        let redirect = s
            .redirects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&path)
            .cloned();
        {
            let mut g = s.requests.lock().unwrap_or_else(|p| p.into_inner());
            g.push(WebhookRequest {
                path,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
                accepted: !fail,
                at: Instant::now(),
            });
            s.cv.notify_all();
        }
        {
            let mut held = s.held.lock().unwrap_or_else(|p| p.into_inner());
            while *held && !s.stop.load(Ordering::SeqCst) {
                held = s
                    .released
                    .wait_timeout(held, Duration::from_millis(100))
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        }
        let delay = s.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            std::thread::sleep(Duration::from_millis(delay));
        }
        let status = match (&redirect, fail) {
            (Some(to), false) => format!("302 Found\r\nlocation: {to}"),
            (_, true) => "503 Service Unavailable".into(),
            (None, false) => "200 OK".into(),
        };
        if out
            .write_all(format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n").as_bytes())
            .is_err()
        {
            return;
        }
    }
}
