//! TLS to PostgreSQL, read from the URL's `sslmode` as libpq does. Runs when
//! `HINOMI_TEST_DATABASE_URL` is set and that server has TLS on (Debian's PostgreSQL
//! does, with its snakeoil certificate).

use hinomi_store::{Location, Store};

fn plain() -> Option<(String, postgres::Client)> {
    let url = std::env::var("HINOMI_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    let mut c = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    let ssl: String = c.query_one("SHOW ssl", &[]).unwrap().get(0);
    if ssl != "on" {
        eprintln!("the test server has ssl = {ssl}: TLS not exercised");
        return None;
    }
    Some((url, c))
}

fn with(url: &str, extra: &str) -> String {
    let Location::Postgres(u) = crate::postgres_location(url) else {
        unreachable!()
    };
    format!("{u}&{extra}")
}

#[test]
fn sslmode_require_encrypts_and_verify_modes_check_the_server() {
    let Some((url, mut c)) = plain() else { return };
    let app = format!("hinomi-tls-{}", uuid::Uuid::new_v4().simple());
    let store = Store::open(&Location::Postgres(with(
        &url,
        &format!("sslmode=require&application_name={app}"),
    )))
    .expect("open over TLS");
    assert!(store.schema_version().unwrap() > 0);
    // The store's connections (kept idle in its pool) are encrypted.
    let encrypted: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = $1 AND s.ssl",
            &[&app],
        )
        .unwrap()
        .get(0);
    assert!(encrypted >= 1, "no encrypted connection of {app}");
    // The default stays in the clear, as before.
    let app2 = format!("hinomi-plain-{}", uuid::Uuid::new_v4().simple());
    let plain_store = Store::open(&Location::Postgres(with(
        &url,
        &format!("application_name={app2}"),
    )))
    .unwrap();
    assert!(plain_store.schema_version().unwrap() > 0);
    let clear: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = $1 AND NOT s.ssl",
            &[&app2],
        )
        .unwrap()
        .get(0);
    assert!(clear >= 1);

    // A CA that did not sign the server's certificate: verification fails, and says so.
    let dir = std::env::temp_dir().join(format!("hinomi-pgtls-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let ok = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=other CA",
        ])
        .current_dir(&dir)
        .output()
        .expect("openssl on PATH");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let ca = dir.join("ca.pem");
    for mode in ["verify-ca", "verify-full", "require"] {
        let e = Store::open(&Location::Postgres(with(
            &url,
            &format!("sslmode={mode}&sslrootcert={}", ca.display()),
        )))
        .err()
        .unwrap_or_else(|| panic!("{mode} accepted a server its CA did not sign"));
        assert!(
            e.to_string().to_lowercase().contains("certificate"),
            "{mode}: {e}"
        );
    }
    // Wrong settings name the setting.
    for (extra, needle) in [
        ("sslmode=verify-full", "sslrootcert"),
        ("sslmode=sometimes", "sslmode"),
        (
            "sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem",
            "/nonexistent/ca.pem",
        ),
    ] {
        let e = Store::open(&Location::Postgres(with(&url, extra)))
            .err()
            .unwrap_or_else(|| panic!("{extra} accepted"));
        assert!(e.to_string().contains(needle), "{extra}: {e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
