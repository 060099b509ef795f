//! Connection-level bounds against slow and greedy clients: idle connections are
//! closed, a body must arrive within its time, large bodies are read a few at a time,
//! and the number of connections served at once is capped.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::{objects_path, Hub, SHARED};

fn connect(hub: &Hub) -> TcpStream {
    let c = TcpStream::connect(hub.server.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c
}

/// Reads until the server closes or answers; returns what arrived.
fn read_all(c: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&out).to_ascii_lowercase();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if out.len() >= end + 4 + len {
                        break;
                    }
                }
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn a_connection_that_stalls_in_its_headers_is_closed() {
    let hub = Hub::start_with(hinomi_hub::HubConfig {
        idle_timeout: Duration::from_secs(1),
        ..crate::lab_config()
    });
    let mut c = connect(&hub);
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n")
        .unwrap();
    let t0 = Instant::now();
    let got = read_all(&mut c);
    assert!(got.is_empty(), "no answer to half a request: {got}");
    assert!(
        t0.elapsed() < Duration::from_secs(15),
        "the server held the stalled connection"
    );
    // The hub still serves.
    assert_eq!(hub.call("GET", "/healthz", None, &[], None).status, 200);
}

#[test]
fn headers_trickled_past_their_deadline_end_the_connection() {
    // Idle never: a header line every 200 ms. The header deadline ends it.
    let hub = Hub::start_with(hinomi_hub::HubConfig {
        header_timeout: Duration::from_secs(1),
        ..crate::lab_config()
    });
    let mut c = connect(&hub);
    c.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n")
        .unwrap();
    let t0 = Instant::now();
    let mut closed = false;
    let mut buf = [0u8; 1024];
    while t0.elapsed() < Duration::from_secs(15) {
        if c.write_all(b"X-Slow: 1\r\n").is_err() {
            closed = true;
            break;
        }
        match c.read(&mut buf) {
            // Closed, or an error status: either way no request was served.
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => {
                let got = String::from_utf8_lossy(&buf[..n]).to_string();
                assert!(!got.contains(" 200 "), "served a trickled request: {got}");
                closed = true;
                break;
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    assert!(closed, "a trickling client kept its connection for 15 s");
    // Whole requests on other connections are served meanwhile and after.
    assert_eq!(hub.call("GET", "/healthz", None, &[], None).status, 200);
}

#[test]
fn a_body_that_does_not_arrive_in_time_is_refused_and_large_ones_wait_their_turn() {
    let hub = Hub::start_with(hinomi_hub::HubConfig {
        body_timeout: Duration::from_secs(3),
        max_large_bodies: 1,
        large_body_wait: Duration::from_secs(1),
        write_rate_per_minute: 0,
        ..crate::lab_config()
    });
    let (_, token) = hub.member("Slow sender", "private");
    let head = |len: usize| {
        format!(
            "POST {} HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer {token}\r\nContent-Type: application/taxii+json;version=2.1\r\nContent-Length: {len}\r\n\r\n",
            objects_path(SHARED)
        )
    };
    // A: a 2 MiB body trickles in and holds the one large-body permit.
    let mut a = connect(&hub);
    a.write_all(head(2 << 20).as_bytes()).unwrap();
    a.write_all(b"{\"objects\": [").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // B: another large body waits a second for the permit, then 503.
    let mut b = connect(&hub);
    b.write_all(head(2 << 20).as_bytes()).unwrap();
    let got_b = read_all(&mut b);
    assert!(got_b.starts_with("HTTP/1.1 503"), "{got_b}");
    assert!(got_b.contains("too many large uploads"), "{got_b}");
    // A's body never completes: 408 naming the time.
    let got_a = read_all(&mut a);
    assert!(got_a.starts_with("HTTP/1.1 408"), "{got_a}");
    assert!(got_a.contains("did not arrive within 3 s"), "{got_a}");
    // Small bodies never wait for the large-body permits.
    let env = crate::envelope(vec![crate::indicator(1, "2026-01-01T00:00:00.000Z")]);
    let r = hub.taxii_post(&objects_path(SHARED), &token, &env);
    assert_eq!(r.status, 202, "{}", r.body);
}

#[test]
fn connections_beyond_the_limit_wait_until_one_is_free() {
    let hub = Hub::start_with(hinomi_hub::HubConfig {
        max_connections: 2,
        ..crate::lab_config()
    });
    let held: Vec<TcpStream> = (0..2).map(|_| connect(&hub)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut third = connect(&hub);
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n")
        .unwrap();
    third
        .set_read_timeout(Some(Duration::from_millis(800)))
        .unwrap();
    let mut buf = [0u8; 64];
    assert!(
        third.read(&mut buf).is_err(),
        "a third connection was served while two were held"
    );
    drop(held);
    third
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let got = read_all(&mut third);
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
}

/// Statuses of sign-in posts, each from the client `X-Forwarded-For` names.
fn sign_ins(hub: &Hub, clients: &[&str]) -> Vec<u16> {
    clients
        .iter()
        .map(|c| {
            hub.call(
                "POST",
                "/login",
                None,
                &[
                    ("X-Forwarded-For", c),
                    ("Content-Type", "application/x-www-form-urlencoded"),
                ],
                Some("email=nobody%40example.org&password=x"),
            )
            .status
        })
        .collect()
}

#[test]
fn forwarded_clients_count_only_behind_a_trusted_proxy() {
    let config = |trusted: Vec<hinomi_hub::outbound::Net>| {
        let mut c = crate::lab_config();
        c.accounts.sign_in_rate_per_minute = 2;
        c.trusted_proxies = trusted;
        c
    };
    // Not trusted: the header is the client's own claim, so changing it gains nothing.
    let hub = Hub::start_with(config(vec![]));
    let got = sign_ins(&hub, &["203.0.113.1", "203.0.113.2", "203.0.113.3"]);
    assert_ne!(got[0], 429);
    assert_eq!(got[2], 429, "{got:?}");
    // Behind a trusted proxy (the test connects from loopback): each forwarded client
    // has its own bucket; the proxy's own hops on the right are skipped.
    let hub = Hub::start_with(config(vec!["127.0.0.0/8".parse().unwrap()]));
    let got = sign_ins(
        &hub,
        &[
            "203.0.113.1",
            "203.0.113.1, 127.0.0.2",
            "203.0.113.1",
            "2001:db8::2",
            // What the client wrote left of the proxy's hop is never read; ports and
            // brackets are the proxy's notation.
            "unknown, [2001:db8::2]:4711",
            "203.0.113.9, [2001:db8::2]",
            // IPv4-mapped and with a port: the same address.
            "::ffff:203.0.113.3",
            "203.0.113.3:80",
            "203.0.113.3",
            // A proxy's own hop unreadable: one bucket for such clients, not the proxy's.
            "not an address",
            "203.0.113.7, unknown",
            "unknown",
        ],
    );
    assert_ne!(got[0], 429, "{got:?}");
    assert_ne!(got[1], 429, "{got:?}");
    assert_eq!(got[2], 429, "the third from 203.0.113.1: {got:?}");
    assert_ne!(got[3], 429, "another client: {got:?}");
    assert_ne!(got[4], 429, "{got:?}");
    assert_eq!(
        got[5], 429,
        "a spoofed hop on the left gains nothing: {got:?}"
    );
    assert_ne!(got[6], 429, "{got:?}");
    assert_ne!(got[7], 429, "{got:?}");
    assert_eq!(
        got[8], 429,
        "mapped, ported and plain are one address: {got:?}"
    );
    assert_ne!(got[9], 429, "{got:?}");
    assert_ne!(got[10], 429, "{got:?}");
    assert_eq!(got[11], 429, "unreadable hops share a bucket: {got:?}");
    // The proxy's own requests (no header) keep their bucket.
    let own = hub.call(
        "POST",
        "/login",
        None,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some("email=nobody%40example.org&password=x"),
    );
    assert_ne!(own.status, 429, "{}", own.body);
}

/// Requests' blocking work runs in a pool of `max_blocking` workers: more callers wait,
/// then get 503; a caller that goes away keeps its worker taken until the work ends
/// (so hanging up cannot start unbounded work); the health check has its own lane.
#[test]
fn blocking_work_is_bounded_and_health_keeps_its_own_lane() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;

    let store = Arc::new(hinomi_store::Store::open(&crate::location()).unwrap());
    let state = hinomi_hub::AppState::idle(
        store,
        hinomi_hub::HubConfig {
            max_blocking: 2,
            blocking_wait: Duration::from_millis(300),
            ..crate::lab_config()
        },
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let open = Arc::new(AtomicBool::new(false));
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let hold = || {
        let (open, running, most) = (open.clone(), running.clone(), most.clone());
        move |_: &hinomi_hub::AppState| {
            let now = running.fetch_add(1, SeqCst) + 1;
            most.fetch_max(now, SeqCst);
            while !open.load(SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
            }
            running.fetch_sub(1, SeqCst);
            Ok(())
        }
    };
    rt.block_on(async {
        let wait_busy = |n: usize| {
            let state = state.clone();
            async move {
                let t0 = Instant::now();
                while state.work.busy() != n {
                    assert!(
                        t0.elapsed() < Duration::from_secs(10),
                        "busy never reached {n}"
                    );
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        };
        let a = tokio::spawn({
            let s = state.clone();
            let f = hold();
            async move { s.call(f).await }
        });
        let b = tokio::spawn({
            let s = state.clone();
            let f = hold();
            async move { s.call(f).await }
        });
        wait_busy(2).await;
        // The first caller hangs up: its work still runs and keeps its worker.
        a.abort();
        let _ = a.await;
        assert_eq!(
            state.work.busy(),
            2,
            "an abandoned call freed its worker early"
        );
        let late: Vec<_> = (0..4)
            .map(|_| {
                let s = state.clone();
                let f = hold();
                tokio::spawn(async move { s.call(f).await })
            })
            .collect();
        for t in late {
            let e = t.await.unwrap().expect_err("no worker was free");
            assert_eq!(e.kind, hinomi_hub::service::Kind::Unavailable, "{e}");
            assert!(e.message.contains("busy"), "{e}");
        }
        // The pool is full, yet the health check answers.
        let v = state
            .call_health(hinomi_hub::service::health)
            .await
            .expect("the health lane is free");
        assert!(v > 0);
        assert_eq!(running.load(SeqCst), 2);
        open.store(true, SeqCst);
        b.await.unwrap().unwrap();
        wait_busy(0).await;
        state.call(hold()).await.expect("a worker is free again");
    });
    assert_eq!(most.load(SeqCst), 2, "more than max_blocking ran at once");
    assert_eq!(state.work.refused(), 4);
    drop(rt);
}
