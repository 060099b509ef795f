use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use hinomi_notify::smtp::{self, Email, SmtpConfig, SmtpError, TlsMode};
use hinomi_notify::testing::{decode_text_body, header, headers_named, SmtpServer};

use crate::TempDir;

const WAIT: Duration = Duration::from_secs(10);

/// A self-signed certificate for `localhost` and `127.0.0.1`, made with the openssl CLI.
struct Cert {
    _dir: TempDir,
    cert: PathBuf,
    key: PathBuf,
}

fn cert() -> Cert {
    cert_for("DNS:localhost,IP:127.0.0.1")
}

fn cert_for(subject_alt_names: &str) -> Cert {
    let dir = TempDir::new("cert");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let status = Command::new("/usr/bin/openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .arg("-addext")
        .arg(format!("subjectAltName={subject_alt_names}"))
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run /usr/bin/openssl");
    assert!(status.success(), "openssl req failed");
    Cert {
        _dir: dir,
        cert,
        key,
    }
}

fn config(port: u16, tls: TlsMode) -> SmtpConfig {
    let mut cfg = SmtpConfig::new("127.0.0.1", port, "hub@hinomi.example.jp");
    cfg.tls = tls;
    cfg.timeout = Duration::from_secs(10);
    cfg
}

fn email() -> Email {
    Email {
        to: vec!["soc@example.jp".into(), "csirt@example.org".into()],
        subject: "【重要】脆弱性情報：ランサムウェアの活動について".into(),
        text: "関係者各位\n\n緊急の警告です。\n.このドットで始まる行も届くこと\n..two dots\n.\n最後の行 ✓\n".into(),
        message_id: "w-2026-0001.1@hinomi.example.jp".into(),
        headers: vec![("X-Hinomi-Warning".into(), "W-2026-0001".into())],
        date_unix: 1_700_000_000,
    }
}

#[test]
fn plain_send_delivers_japanese_subject_and_body_exactly() {
    let server = SmtpServer::start();
    let mut cfg = config(server.port(), TlsMode::None);
    cfg.from_name = Some("日の見 警戒センター".into());
    let email = email();
    smtp::send(&cfg, &email).unwrap();

    let got = server.wait_for(1, WAIT);
    assert_eq!(got.len(), 1);
    let msg = &got[0];
    assert_eq!(msg.mail_from, "hub@hinomi.example.jp");
    assert_eq!(msg.rcpt_to, email.to);
    assert!(!msg.tls);
    assert_eq!(msg.auth, None);
    // What arrived after un-dot-stuffing is exactly what was rendered.
    assert_eq!(msg.data, smtp::render(&cfg, &email));

    let raw = &msg.data;
    assert_eq!(header(raw, "Subject").unwrap(), email.subject);
    assert_eq!(decode_text_body(raw).unwrap(), email.text);
    assert_eq!(
        header(raw, "From").unwrap(),
        "日の見 警戒センター <hub@hinomi.example.jp>"
    );
    assert_eq!(
        header(raw, "To").unwrap(),
        "soc@example.jp, csirt@example.org"
    );
    assert_eq!(
        header(raw, "Date").unwrap(),
        "Tue, 14 Nov 2023 22:13:20 +0000"
    );
    assert_eq!(
        header(raw, "Message-ID").unwrap(),
        "<w-2026-0001.1@hinomi.example.jp>"
    );
    assert_eq!(header(raw, "MIME-Version").unwrap(), "1.0");
    assert_eq!(
        header(raw, "Content-Type").unwrap(),
        "text/plain; charset=UTF-8"
    );
    assert_eq!(header(raw, "X-Hinomi-Warning").unwrap(), "W-2026-0001");
}

#[test]
fn rendered_messages_are_ascii_with_short_lines() {
    let cfg = config(25, TlsMode::None);
    let mut email = email();
    email.subject = "長い件名".repeat(30);
    email.text = "本文".repeat(500);
    let raw = smtp::render(&cfg, &email);
    assert!(raw.is_ascii());
    assert!(raw.ends_with("\r\n"));
    assert!(
        !raw.replace("\r\n", "").contains(['\r', '\n']),
        "bare CR or LF"
    );
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.split("\r\n").all(|l| l.len() <= 998));
    assert!(body.split("\r\n").all(|l| l.len() <= 76));
    assert_eq!(header(&raw, "Subject").unwrap(), email.subject);
    assert_eq!(decode_text_body(&raw).unwrap(), email.text);
}

#[test]
fn starttls_with_auth_over_tls() {
    let cert = cert();
    let server = SmtpServer::start_tls(&cert.cert, &cert.key);
    server.set_credentials(Some(("hub".into(), "pa55 wörd".into())));
    let mut cfg = config(server.port(), TlsMode::StartTls);
    cfg.host = "localhost".into();
    cfg.ca_file = Some(cert.cert.clone());
    cfg.username = Some("hub".into());
    cfg.password = Some("pa55 wörd".into());
    let email = email();
    smtp::send(&cfg, &email).unwrap();

    let got = server.wait_for(1, WAIT);
    assert_eq!(got.len(), 1);
    assert!(got[0].tls);
    assert_eq!(got[0].auth.as_deref(), Some("hub"));
    assert_eq!(decode_text_body(&got[0].data).unwrap(), email.text);

    // The certificate names 127.0.0.1 too, so connecting by address also verifies.
    cfg.host = "127.0.0.1".into();
    smtp::send(&cfg, &email).unwrap();
    assert_eq!(server.wait_for(2, WAIT).len(), 2);
}

#[test]
fn wrong_password_is_a_permanent_error() {
    let cert = cert();
    let server = SmtpServer::start_tls(&cert.cert, &cert.key);
    server.set_credentials(Some(("hub".into(), "right".into())));
    let mut cfg = config(server.port(), TlsMode::StartTls);
    cfg.ca_file = Some(cert.cert.clone());
    cfg.username = Some("hub".into());
    cfg.password = Some("wrong".into());
    let err = smtp::send(&cfg, &email()).unwrap_err();
    assert_eq!(err.code(), Some(535), "{err}");
    assert!(err.is_permanent());
    assert!(!err.to_string().contains("wrong"), "{err}");
    assert!(server.received().is_empty());
}

#[test]
fn implicit_tls() {
    let cert = cert();
    let server = SmtpServer::start_implicit_tls(&cert.cert, &cert.key);
    let mut cfg = config(server.port(), TlsMode::Implicit);
    cfg.ca_file = Some(cert.cert.clone());
    cfg.username = Some("hub".into());
    cfg.password = Some("secret".into());
    smtp::send(&cfg, &email()).unwrap();
    let got = server.wait_for(1, WAIT);
    assert!(got[0].tls);
    assert_eq!(got[0].auth.as_deref(), Some("hub"));
}

#[test]
fn untrusted_certificate_is_a_tls_error() {
    let cert = cert();
    let server = SmtpServer::start_tls(&cert.cert, &cert.key);
    let cfg = config(server.port(), TlsMode::StartTls); // no ca_file
    let err = smtp::send(&cfg, &email()).unwrap_err();
    assert!(matches!(err, SmtpError::Tls { .. }), "{err}");
    assert!(!err.is_permanent());
    assert!(server.received().is_empty());
}

#[test]
fn ca_file_certificate_for_another_name_is_refused() {
    let cert = cert_for("DNS:mail.other.example");
    let server = SmtpServer::start_tls(&cert.cert, &cert.key);
    let mut cfg = config(server.port(), TlsMode::StartTls);
    cfg.ca_file = Some(cert.cert.clone());
    for host in ["127.0.0.1", "localhost"] {
        cfg.host = host.into();
        let err = smtp::send(&cfg, &email()).unwrap_err();
        assert!(matches!(err, SmtpError::Tls { .. }), "{host}: {err}");
    }
    assert!(server.received().is_empty());
}

#[test]
fn starttls_required_but_not_offered_is_an_error() {
    let server = SmtpServer::start();
    let mut cfg = config(server.port(), TlsMode::StartTls);
    cfg.username = Some("hub".into());
    cfg.password = Some("secret".into());
    let err = smtp::send(&cfg, &email()).unwrap_err();
    assert!(matches!(err, SmtpError::StartTlsNotOffered { .. }), "{err}");
    assert!(err.to_string().contains("STARTTLS"), "{err}");
    assert!(server.received().is_empty());
}

#[test]
fn rejected_recipient_550_is_permanent_and_nothing_is_sent() {
    let server = SmtpServer::start();
    server.set_reject_rcpt(Some("csirt@example.org".into()));
    let cfg = config(server.port(), TlsMode::None);
    let err = smtp::send(&cfg, &email()).unwrap_err();
    match &err {
        SmtpError::RecipientRejected {
            recipient, code, ..
        } => {
            assert_eq!((recipient.as_str(), *code), ("csirt@example.org", 550));
        }
        other => panic!("expected RecipientRejected, got {other}"),
    }
    assert!(err.is_permanent());
    assert!(server.received().is_empty());
}

#[test]
fn temporary_451_is_transient_and_a_retry_succeeds() {
    let server = SmtpServer::start();
    server.set_fail_next(1);
    let cfg = config(server.port(), TlsMode::None);
    let err = smtp::send(&cfg, &email()).unwrap_err();
    assert_eq!(err.code(), Some(451), "{err}");
    assert!(!err.is_permanent());
    smtp::send(&cfg, &email()).unwrap();
    assert_eq!(server.wait_for(1, WAIT).len(), 1);
}

#[test]
fn header_injection_in_subject_does_not_create_a_header() {
    let server = SmtpServer::start();
    let cfg = config(server.port(), TlsMode::None);
    let mut email = email();
    email.subject = "hello\r\nBcc: x@evil.example".into();
    email.headers = vec![
        ("X-Note".into(), "a\r\nCc: y@evil.example".into()),
        ("X-Bad\r\nBcc".into(), "z@evil.example".into()),
        ("Content-Type".into(), "text/html".into()),
        ("Bcc".into(), "w@evil.example".into()),
    ];
    smtp::send(&cfg, &email).unwrap();
    let got = server.wait_for(1, WAIT);
    let raw = &got[0].data;
    assert_eq!(got[0].rcpt_to, email.to);
    for name in ["Bcc", "Cc"] {
        assert!(headers_named(raw, name).is_empty(), "{name} in:\n{raw}");
    }
    assert!(!raw
        .lines()
        .any(|l| l.starts_with("Bcc") || l.starts_with("Cc")));
    assert_eq!(
        header(raw, "Subject").unwrap(),
        "hello  Bcc: x@evil.example"
    );
    assert_eq!(header(raw, "X-Note").unwrap(), "a  Cc: y@evil.example");
    assert_eq!(
        headers_named(raw, "Content-Type"),
        vec!["text/plain; charset=UTF-8"]
    );
}

#[test]
fn dot_stuffing_round_trips_through_the_server() {
    let server = SmtpServer::start();
    let cfg = config(server.port(), TlsMode::None);
    let raw = "Subject: dots\r\n\r\n.hidden\r\n..two\r\n.\r\nend\r\n";
    smtp::send_raw(&cfg, &["soc@example.jp".to_string()], raw).unwrap();
    assert_eq!(server.wait_for(1, WAIT)[0].data, raw);
}

#[test]
fn bad_input_is_refused_before_connecting() {
    // Port 9 on 127.0.0.1 is closed, so reaching the network would give a Connect error.
    let cfg = config(9, TlsMode::None);
    let mut bad = email();
    bad.to = vec!["soc@example.jp\r\nRCPT TO:<evil@example.org>".into()];
    let err = smtp::send(&cfg, &bad).unwrap_err();
    assert!(
        matches!(err, SmtpError::InvalidAddress { field: "to", .. }),
        "{err}"
    );
    assert!(err.is_permanent());

    bad.to = vec![];
    assert!(matches!(
        smtp::send(&cfg, &bad),
        Err(SmtpError::InvalidMessage(_))
    ));

    let mut bad = email();
    bad.message_id = "no at sign".into();
    assert!(matches!(
        smtp::send(&cfg, &bad),
        Err(SmtpError::InvalidMessage(_))
    ));

    let mut cfg_bad = cfg.clone();
    cfg_bad.from = "hub@hinomi>".into();
    assert!(matches!(
        smtp::send(&cfg_bad, &email()),
        Err(SmtpError::InvalidAddress { field: "from", .. })
    ));

    let mut cfg_bad = cfg.clone();
    cfg_bad.username = Some("hub".into());
    assert!(matches!(
        smtp::send(&cfg_bad, &email()),
        Err(SmtpError::Config(_))
    ));

    let mut cfg_bad = config(9, TlsMode::StartTls);
    cfg_bad.ca_file = Some("/nonexistent/ca.pem".into());
    // The CA file is read only when TLS starts, so this one does reach the network.
    assert!(smtp::send(&cfg_bad, &email()).is_err());
}

#[test]
fn connection_refused_is_transient() {
    // Port 1 (tcpmux): nothing listens there. A port taken from a listener and freed
    // again could be given to another test's server, running in parallel, before the
    // connection (it was: "connection reset during greeting"); the tests' servers
    // bind ephemeral ports, never this one.
    let port = 1;
    let err = smtp::send(&config(port, TlsMode::None), &email()).unwrap_err();
    assert!(matches!(err, SmtpError::Connect { .. }), "{err}");
    assert!(!err.is_permanent());
}

/// A scripted server: sends `script` lines in answer to each client line, after
/// `greeting`. Returns its port.
fn scripted(greeting: &'static str, answers: Vec<&'static str>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        writer.write_all(greeting.as_bytes()).unwrap();
        for answer in answers {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if writer.write_all(answer.as_bytes()).is_err() {
                return;
            }
        }
        // Hold the connection open until the client gives up.
        let mut rest = String::new();
        let _ = reader.read_line(&mut rest);
    });
    port
}

#[test]
fn silent_server_times_out() {
    let port = scripted("", vec![]);
    let mut cfg = config(port, TlsMode::None);
    cfg.timeout = Duration::from_millis(300);
    let err = smtp::send(&cfg, &email()).unwrap_err();
    assert!(matches!(err, SmtpError::Timeout { .. }), "{err}");
    assert!(!err.is_permanent());
}

#[test]
fn multi_line_replies_and_plaintext_injected_after_starttls() {
    // The 220 to STARTTLS arrives together with a forged reply meant to be read after the
    // handshake: the client must refuse instead of reading it as if it came over TLS.
    let port = scripted(
        "220-first line\r\n220-second line\r\n220 ready\r\n",
        vec![
            "250-hi\r\n250-SIZE 100\r\n250 STARTTLS\r\n",
            "220 go ahead\r\n250-forged\r\n250 STARTTLS\r\n",
        ],
    );
    let err = smtp::send(&config(port, TlsMode::StartTls), &email()).unwrap_err();
    assert!(matches!(err, SmtpError::Protocol { .. }), "{err}");
}

#[test]
fn malformed_and_rejecting_greetings() {
    let port = scripted("hello there\r\n", vec![]);
    let err = smtp::send(&config(port, TlsMode::None), &email()).unwrap_err();
    assert!(matches!(err, SmtpError::Protocol { .. }), "{err}");

    let port = scripted("554 no service here\r\n", vec!["221 bye\r\n"]);
    let err = smtp::send(&config(port, TlsMode::None), &email()).unwrap_err();
    assert_eq!(err.code(), Some(554), "{err}");
    assert!(err.is_permanent());
}
