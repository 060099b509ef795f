//! The web UI over real HTTP, as a browser would speak to it (no redirects followed, so
//! every cookie and Location is seen): invitation with TOTP enrolment, the two-step
//! sign-in, replayed codes, lockout, per-form tokens and same-site checks, sessions
//! listed and ended, the audit naming the user, the public pages and their Atom feed,
//! escaping, and the security headers.

use serde_json::{json, Value};

use hinomi_hub::{Clock, HubConfig};
use hinomi_store::Timestamp;

use crate::{Hub, Resp};

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().redirects(0).build()
}

/// A request with a cookie header and form body; answers everything as [`Resp`].
fn web(
    hub: &Hub,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    headers: &[(&str, &str)],
    form: Option<&[(&str, &str)]>,
) -> Resp {
    let mut r = agent().request(method, &hub.url(path));
    if let Some(c) = cookie {
        r = r.set("Cookie", c);
    }
    for (k, v) in headers {
        r = r.set(k, v);
    }
    let res = match form {
        Some(f) => r.send_form(f),
        None => r.call(),
    };
    let resp = match res {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {path}: {e}"),
    };
    let status = resp.status();
    let content_type = resp.header("content-type").unwrap_or("").to_string();
    let mut headers = Vec::new();
    for n in resp.headers_names() {
        for v in resp.all(&n) {
            headers.push((n.clone(), v.to_string()));
        }
    }
    Resp {
        status,
        content_type,
        headers,
        body: resp.into_string().unwrap_or_default(),
    }
}

fn get(hub: &Hub, path: &str, cookie: Option<&str>) -> Resp {
    web(hub, "GET", path, cookie, &[], None)
}

/// A POST as a same-site browser form.
fn post(hub: &Hub, path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Resp {
    web(
        hub,
        "POST",
        path,
        cookie,
        &[("Sec-Fetch-Site", "same-origin")],
        Some(form),
    )
}

/// The session cookie a response sets (`name=value`), if any.
fn session_set(r: &Resp) -> Option<String> {
    r.headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.split(';').next().unwrap_or("").to_string())
        .find(|c| c.starts_with("hinomi_session="))
}

/// The value of the first `name="…" value="…"` input named `name` on a page.
fn input(page: &str, name: &str) -> String {
    let at = page
        .find(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no input {name} on the page:\n{page}"));
    let rest = &page[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_string()
}

fn between<'a>(page: &'a str, start: &str, end: &str) -> &'a str {
    let a = page
        .find(start)
        .unwrap_or_else(|| panic!("no {start} in:\n{page}"))
        + start.len();
    &page[a..a + page[a..].find(end).unwrap()]
}

/// RFC 4648 base32 (the test's own, to check the hub's encoding independently).
fn unbase32(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {s}"),
        };
        buf = (buf << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            out.push((buf >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    out
}

fn step(hub_clock: &Clock) -> i64 {
    hub_clock.now().micros() / 1_000_000 / 30
}

fn code(secret: &[u8], clock: &Clock, ahead: i64) -> String {
    hinomi_hub::service::accounts::totp(secret, step(clock) + ahead)
}

struct Lab {
    hub: Hub,
    clock: Clock,
}

fn lab() -> Lab {
    let clock = Clock::manual(Timestamp::now());
    let hub = Hub::start_with(HubConfig {
        clock: clock.clone(),
        ..crate::lab_config()
    });
    Lab { hub, clock }
}

const PASSWORD: &str = "correct horse battery staple";

/// Invites `email` to `org`, accepts in the browser's way; answers the session cookie
/// and the enrolled TOTP secret.
fn join(l: &Lab, org: &str, email: &str, role: &str) -> (String, Vec<u8>) {
    let hub = &l.hub;
    let r = hub.rest(
        "POST",
        &format!("/api/v1/organizations/{org}/invitations"),
        &hub.admin,
        Some(json!({"email": email, "role": role})),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let link = r.json()["link"].as_str().unwrap().to_string();
    let page = get(hub, &link, None);
    assert_eq!(page.status, 200, "{}", page.body);
    let secret = unbase32(between(&page.body, "<code id=\"totp-secret\">", "</code>"));
    assert_eq!(secret.len(), 20);
    let (token, sealed) = (input(&page.body, "csrf"), input(&page.body, "sealed"));
    let c = code(&secret, &l.clock, 0);
    let form = |pw2: &str, code: &str| {
        vec![
            ("csrf", token.clone()),
            ("sealed", sealed.clone()),
            ("name", format!("{email} person")),
            ("password", PASSWORD.to_string()),
            ("password_again", pw2.to_string()),
            ("locale", "en".to_string()),
            ("code", code.to_string()),
        ]
    };
    let send = |f: Vec<(&str, String)>| {
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        post(hub, &link, None, &f)
    };
    // Mismatched passwords and a wrong code are refused, naming the field; nothing is
    // created, so the invitation still works.
    let r = send(form("correct horse battery stable", &c));
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("the two entries differ"), "{}", r.body);
    let wrong = if c == "000000" { "111111" } else { "000000" };
    let r = send(form(PASSWORD, wrong));
    assert_eq!(r.status, 400);
    assert!(r.body.contains("code: not the current code"), "{}", r.body);
    let r = send(form(PASSWORD, &c));
    assert_eq!(r.status, 303, "{}", r.body);
    let cookie = session_set(&r).expect("a session cookie");
    let set = r.header("set-cookie").unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    // The link works once.
    assert_eq!(get(hub, &link, None).status, 404);
    assert_eq!(send(form(PASSWORD, &c)).status, 404);
    (cookie, secret)
}

fn publish(hub: &Hub, title: &str, tlp: &str, orgs: &[&str]) -> String {
    let audience = if orgs.is_empty() {
        json!({"all": true})
    } else {
        json!({"organizations": orgs})
    };
    let r = hub.rest(
        "POST",
        "/api/v1/warnings",
        &hub.admin,
        Some(
            json!({"title": {"en": title, "ja": format!("{title}（日本語）")},
            "summary": {"en": "What happened."}, "severity": "high", "tlp": tlp,
            "ack_required": true, "audience": audience}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let r = hub.rest(
        "POST",
        &format!("/api/v1/warnings/{id}/publish"),
        &hub.admin,
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    id
}

#[test]
fn a_person_joins_signs_in_with_a_second_factor_and_acknowledges() {
    let l = lab();
    let hub = &l.hub;
    let (org, _) = hub.member("Water Bureau", "local-government");
    let org_id = org["id"].as_str().unwrap();
    let (other, _) = hub.member("Other Bureau", "local-government");
    let amber = publish(hub, "SCADA intrusion", "amber", &[org_id]);
    let theirs = publish(
        hub,
        "Not for the bureau",
        "amber",
        &[other["id"].as_str().unwrap()],
    );
    let (first, secret) = join(&l, org_id, "Analyst@Water.example", "analyst");

    // The session opens the inbox; the other organization's AMBER warning is not there
    // and does not exist for this user.
    let inbox = get(hub, "/inbox", Some(&first));
    assert_eq!(inbox.status, 200, "{}", inbox.body);
    assert!(inbox.body.contains("SCADA intrusion") && !inbox.body.contains("Not for the bureau"));
    assert_eq!(
        get(hub, &format!("/warnings/{theirs}"), Some(&first)).status,
        404
    );

    // Sign in again: the address is case-folded; a wrong password is refused as such.
    let login = get(hub, "/login", None);
    let token = input(&login.body, "csrf");
    let r = post(
        hub,
        "/login",
        None,
        &[
            ("csrf", &token),
            ("email", "analyst@water.example"),
            ("password", "wrong password here"),
        ],
    );
    assert_eq!(r.status, 401);
    assert!(r.body.contains("address or the password is wrong"));
    let r = post(
        hub,
        "/login",
        None,
        &[
            ("csrf", &token),
            ("email", "ANALYST@water.example"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/login/code"));
    let half = session_set(&r).unwrap();
    // Without the code the session opens nothing.
    let r = get(hub, "/inbox", Some(&half));
    assert_eq!((r.status, r.header("location")), (303, Some("/login")));
    let code_page = get(hub, "/login/code", Some(&half));
    let csrf = input(&code_page.body, "csrf");
    // The code used at enrolment is good once: replaying it fails.
    let replay = code(&secret, &l.clock, 0);
    let r = post(
        hub,
        "/login/code",
        Some(&half),
        &[("csrf", &csrf), ("code", &replay)],
    );
    assert_eq!(r.status, 401, "{}", r.body);
    l.clock.advance(std::time::Duration::from_secs(30));
    let c = code(&secret, &l.clock, 0);
    let r = post(
        hub,
        "/login/code",
        Some(&half),
        &[("csrf", &csrf), ("code", &c)],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    // The completed session has a new cookie: the half-open one opens nothing.
    let second = session_set(&r).expect("a new session cookie");
    assert_ne!(second, half);
    assert_eq!(get(hub, "/inbox", Some(&half)).status, 303);
    assert_eq!(get(hub, "/inbox", Some(&second)).status, 200);

    // Report a status on the warning: only a same-site form with the session's token.
    let page = get(hub, &format!("/warnings/{amber}"), Some(&second));
    assert_eq!(page.status, 200);
    let csrf = input(&page.body, "csrf");
    let path = format!("/warnings/{amber}/status");
    let ack = [
        ("csrf", csrf.as_str()),
        ("status", "acknowledged"),
        ("note", "SOC told"),
    ];
    let r = post(hub, &path, Some(&second), &[("status", "acknowledged")]);
    assert_eq!(r.status, 403, "no token");
    let r = post(hub, &path, Some(&first), &ack);
    assert_eq!(r.status, 403, "another session's token");
    let r = web(
        hub,
        "POST",
        &path,
        Some(&second),
        &[("Sec-Fetch-Site", "cross-site")],
        Some(&ack),
    );
    assert_eq!(r.status, 403, "cross-site");
    let r = web(
        hub,
        "POST",
        &path,
        Some(&second),
        &[("Origin", "https://evil.example")],
        Some(&ack),
    );
    assert_eq!(r.status, 403, "foreign origin");
    let history = |hub: &Hub| {
        hub.rest(
            "GET",
            &format!("/api/v1/warnings/{amber}/acknowledgements"),
            &hub.admin,
            None,
        )
        .json()["history"]
            .clone()
    };
    assert_eq!(history(hub), json!([]), "nothing refused was recorded");
    let r = post(hub, &path, Some(&second), &ack);
    assert_eq!(r.status, 303, "{}", r.body);
    let h = history(hub);
    assert_eq!(h[0]["status"], "acknowledged");
    assert_eq!(h[0]["note"], "SOC told");
    let page = get(hub, &format!("/warnings/{amber}?recorded=1"), Some(&second));
    assert!(page.body.contains("Your status has been recorded."));
    assert!(page.body.contains("SOC told"));

    // The audit log names the person as well as the organization.
    let audit = hub
        .rest("GET", "/api/v1/audit?limit=1000", &hub.admin, None)
        .json();
    let entries: Vec<Value> = audit["entries"].as_array().cloned().unwrap_or_default();
    let names_user = |action: &str| {
        entries.iter().any(|e| {
            e["action"].as_str().is_some_and(|a| a == action)
                && e["detail"]["user"] == "analyst@water.example"
                && e["actor_organization_id"] == org_id
        })
    };
    assert!(names_user("user.login"), "{entries:#?}");
    assert!(names_user("user.create"));
    assert!(names_user("user.login-failed"));
    assert!(
        names_user("warning.status"),
        "a change made through the UI names who made it"
    );

    // Both sessions are listed; ending the first from the second closes it at once.
    let account = get(hub, "/account", Some(&second));
    assert_eq!(
        account.body.matches("/end\"").count(),
        2,
        "{}",
        account.body
    );
    let other_row = account
        .body
        .split("<tr>")
        .find(|row| row.contains("/end\"") && !row.contains("This session"))
        .expect("the other session's row");
    let first_id = between(other_row, "action=\"/account/sessions/", "/end\"").to_string();
    let csrf = input(&account.body, "csrf");
    let r = post(
        hub,
        &format!("/account/sessions/{first_id}/end"),
        Some(&second),
        &[("csrf", &csrf)],
    );
    assert_eq!(r.status, 303);
    assert_eq!(get(hub, "/inbox", Some(&first)).status, 303);
    assert_eq!(get(hub, "/inbox", Some(&second)).status, 200);

    // Signing out ends the session on the hub, not only in the browser.
    let r = post(hub, "/logout", Some(&second), &[("csrf", &csrf)]);
    assert_eq!(r.status, 303);
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(get(hub, "/inbox", Some(&second)).status, 303);
}

#[test]
fn repeated_failures_lock_the_account_for_a_while() {
    let l = lab();
    let hub = &l.hub;
    let (org, _) = hub.member("Grid Operator", "private");
    let org_id = org["id"].as_str().unwrap();
    join(&l, org_id, "ops@grid.example", "admin");
    let token = input(&get(hub, "/login", None).body, "csrf");
    let try_pw = |pw: &str| {
        post(
            hub,
            "/login",
            None,
            &[
                ("csrf", &token),
                ("email", "ops@grid.example"),
                ("password", pw),
            ],
        )
    };
    for _ in 0..5 {
        assert_eq!(try_pw("guess guess guess").status, 401);
    }
    let r = try_pw(PASSWORD);
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.body.contains("locked"), "{}", r.body);
    l.clock.advance(std::time::Duration::from_secs(16 * 60));
    assert_eq!(try_pw(PASSWORD).status, 303);
    // An unknown address is told the same as a wrong password.
    let r = post(
        hub,
        "/login",
        None,
        &[
            ("csrf", &token),
            ("email", "nobody@grid.example"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(r.status, 401);
    // A sign-in form token expires, and a forged one is refused.
    let r = post(
        hub,
        "/login",
        None,
        &[
            ("csrf", "1.abc"),
            ("email", "ops@grid.example"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(r.status, 403);
    l.clock.advance(std::time::Duration::from_secs(2 * 3600));
    assert_eq!(try_pw(PASSWORD).status, 403);
}

#[test]
fn the_public_sees_clear_warnings_escaped_with_a_feed_in_either_language() {
    let l = lab();
    let hub = &l.hub;
    let (org, _) = hub.member("Water Bureau", "local-government");
    let clear = publish(hub, "Phishing <script>alert(1)</script> wave", "clear", &[]);
    let amber = publish(
        hub,
        "Private matter",
        "amber",
        &[org["id"].as_str().unwrap()],
    );

    let r = get(hub, "/", None);
    assert_eq!((r.status, r.header("location")), (303, Some("/public")));
    let page = get(hub, "/public", None);
    assert_eq!(page.status, 200);
    assert!(page.content_type.starts_with("text/html"));
    assert!(
        page.body
            .contains("Phishing &#60;script&#62;alert(1)&#60;/script&#62; wave"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("<script"),
        "no script at all, and nothing unescaped"
    );
    assert!(!page.body.contains("Private matter"));
    assert!(page.body.contains("TLP:CLEAR"));
    assert!(
        page.body.contains("type=\"application/atom+xml\""),
        "feed autodiscovery"
    );
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        get(hub, &format!("/public/warnings/{amber}"), None).status,
        404
    );
    assert_eq!(
        get(hub, &format!("/public/warnings/{clear}"), None).status,
        200
    );

    // Search finds by words in any language.
    let found = get(hub, "/public?q=PHISHING+wave", None);
    assert!(found.body.contains("Phishing"));
    let none = get(hub, "/public?q=ransomware", None);
    assert!(!none.body.contains("Phishing") && none.body.contains("No public warnings match."));

    // Japanese by Accept-Language, by the switch (remembered in a cookie).
    let ja = web(
        hub,
        "GET",
        "/public",
        None,
        &[("Accept-Language", "ja,en;q=0.5")],
        None,
    );
    assert!(ja.body.contains("<html lang=\"ja\">") && ja.body.contains("公開アドバイザリー"));
    assert!(ja
        .body
        .contains("Phishing &#60;script&#62;alert(1)&#60;/script&#62; wave（日本語）"));
    let switched = get(hub, "/public?lang=ja", None);
    assert!(switched.body.contains("<html lang=\"ja\">"));
    let set = switched.header("set-cookie").unwrap();
    assert!(set.starts_with("hinomi_lang=ja"), "{set}");
    let back = get(hub, "/public", Some("hinomi_lang=ja"));
    assert!(back.body.contains("<html lang=\"ja\">"));

    // The Atom feed: well-formed, one entry (the CLEAR one), escaped.
    let feed = get(hub, "/public/feed.atom", None);
    assert_eq!(feed.status, 200);
    assert!(feed.content_type.starts_with("application/atom+xml"));
    assert!(feed.body.starts_with(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\""
    ));
    assert_eq!(feed.body.matches("<entry>").count(), 1);
    assert!(feed.body.contains(&format!("/public/warnings/{clear}\"/>")));
    assert!(feed.body.contains("&lt;script&gt;") && !feed.body.contains("<script"));
    let feed_ja = get(hub, "/public/feed.atom?lang=ja", None);
    assert!(feed_ja.body.contains("xml:lang=\"ja\"") && feed_ja.body.contains("（日本語）"));

    // The stylesheet is served from the binary.
    let css = get(hub, "/assets/hinomi.css", None);
    assert_eq!(css.status, 200);
    assert!(css.content_type.starts_with("text/css") && css.body.contains(".tlp-amber"));
}

#[test]
fn only_admins_invite_and_an_address_is_one_user() {
    let l = lab();
    let hub = &l.hub;
    let (org, member_token) = hub.member("Water Bureau", "local-government");
    let org_id = org["id"].as_str().unwrap();
    let path = format!("/api/v1/organizations/{org_id}/invitations");
    let r = hub.rest(
        "POST",
        &path,
        &member_token,
        Some(json!({"email": "x@water.example", "role": "admin"})),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    for (body, field) in [
        (json!({"email": "not an address", "role": "admin"}), "email"),
        (json!({"email": "x@water.example", "role": "owner"}), "role"),
    ] {
        let r = hub.rest("POST", &path, &hub.admin, Some(body));
        assert_eq!(r.status, 400);
        assert!(r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with(field));
    }
    join(&l, org_id, "x@water.example", "read-only");
    let r = hub.rest(
        "POST",
        &path,
        &hub.admin,
        Some(json!({"email": "X@water.example", "role": "admin"})),
    );
    assert_eq!(r.status, 409, "{}", r.body);
    let users = hub.rest(
        "GET",
        &format!("/api/v1/organizations/{org_id}/users"),
        &member_token,
        None,
    );
    assert_eq!(users.status, 200);
    let u = &users.json()["users"][0];
    assert_eq!(
        (u["email"].as_str(), u["role"].as_str()),
        (Some("x@water.example"), Some("read-only"))
    );
    assert!(
        !users.body.contains("argon2") && !users.body.contains("totp"),
        "no secrets"
    );
}

#[test]
fn parallel_guesses_cannot_outrun_the_lockout() {
    let l = lab();
    let hub = &l.hub;
    let (org, _) = hub.member("Rail Operator", "private");
    join(
        &l,
        org["id"].as_str().unwrap(),
        "signal@rail.example",
        "analyst",
    );
    let token = input(&get(hub, "/login", None).body, "csrf");
    let statuses: Vec<u16> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let token = token.clone();
                sc.spawn(move || {
                    let pw = format!("guess number {i} here");
                    post(
                        hub,
                        "/login",
                        None,
                        &[
                            ("csrf", &token),
                            ("email", "signal@rail.example"),
                            ("password", &pw),
                        ],
                    )
                    .status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // However they interleave, only the first five guesses were checked.
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert_eq!(checked, 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 15);
    let audit = hub
        .rest("GET", "/api/v1/audit?limit=1000", &hub.admin, None)
        .json();
    let failed = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "user.login-failed")
        .count();
    assert_eq!(failed, 5);
}

#[test]
fn sign_in_forms_are_rate_limited_per_client() {
    let l = lab();
    let hub = &l.hub;
    let token = input(&get(hub, "/login", None).body, "csrf");
    let statuses: Vec<u16> = (0..40)
        .map(|_| {
            post(
                hub,
                "/login",
                None,
                &[
                    ("csrf", &token),
                    ("email", "nobody@example.org"),
                    ("password", "x"),
                ],
            )
            .status
        })
        .collect();
    // A full bucket lets 30 through at once; the rest wait for it to refill (one every
    // 2 s), so some of the next ten are refused however slow this machine is.
    assert!(statuses[..30].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[30..].contains(&429), "{statuses:?}");
    // Reading pages is not limited.
    assert_eq!(get(hub, "/public", None).status, 200);
}

#[test]
fn an_exercise_runs_with_a_banner_injects_and_an_after_action_view() {
    let l = lab();
    let hub = &l.hub;
    let coordinator = hub.store.coordinator().unwrap().unwrap().id;
    let (org, _) = hub.member("Water Bureau", "local-government");
    let org_id = org["id"].as_str().unwrap();
    let (outsider, _) = hub.member("Not Playing", "private");
    let (lead, _) = join(&l, &coordinator, "lead@ncert.example", "analyst");
    let (player, _) = join(&l, org_id, "player@water.example", "analyst");
    let (other, _) = join(
        &l,
        outsider["id"].as_str().unwrap(),
        "bystander@other.example",
        "analyst",
    );
    let csrf = |cookie: &str| input(&get(hub, "/account", Some(cookie)).body, "csrf");
    let lc = csrf(&lead);

    // A member may not plan one; a plan needs participants.
    let pc = csrf(&player);
    let r = post(
        hub,
        "/exercises",
        Some(&player),
        &[("csrf", &pc), ("name", "x")],
    );
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/exercises"));
    let r = post(
        hub,
        "/exercises",
        Some(&lead),
        &[("csrf", &lc), ("name", "Tabletop")],
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("participants: at least one organization"));
    let r = post(
        hub,
        "/exercises",
        Some(&lead),
        &[
            ("csrf", &lc),
            ("name", "Tabletop"),
            ("participants", org_id),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let path = r.header("location").unwrap().to_string();
    let banner = "Exercise running: Tabletop";
    assert!(!get(hub, "/inbox", Some(&player)).body.contains(banner));
    // A planned exercise is not announced to its participants (no-notice drills).
    assert!(!get(hub, "/exercises", Some(&player))
        .body
        .contains("Tabletop"));
    // Injects are sent only while it runs.
    let inject = [
        ("csrf", lc.as_str()),
        ("title_en", "Inject one"),
        ("summary_en", "The plant's SCADA is encrypted."),
    ];
    let r = post(hub, &format!("{path}/inject"), Some(&lead), &inject);
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(
        post(hub, &format!("{path}/start"), Some(&lead), &[("csrf", &lc)]).status,
        303
    );
    assert_eq!(
        post(hub, &format!("{path}/start"), Some(&lead), &[("csrf", &lc)]).status,
        409,
        "a running exercise does not start again"
    );
    assert_eq!(
        post(hub, &format!("{path}/inject"), Some(&lead), &inject).status,
        303
    );

    // The banner is on every page of the participants and the coordinator, not others'.
    for page in ["/inbox", "/public", "/account", "/reports"] {
        assert!(
            get(hub, page, Some(&player)).body.contains(banner),
            "{page}"
        );
    }
    assert!(get(hub, "/dashboard", Some(&lead)).body.contains(banner));
    assert!(!get(hub, "/inbox", Some(&other)).body.contains(banner));
    assert!(!get(hub, "/public", None).body.contains(banner));
    // The inject reached the participant, marked as exercise; not the bystander.
    let inbox = get(hub, "/inbox", Some(&player)).body;
    assert!(inbox.contains("Inject one") && inbox.contains("card exercise"));
    assert!(!get(hub, "/inbox", Some(&other)).body.contains("Inject one"));
    let wid = between(&inbox, "<a href=\"/warnings/", "\"").to_string();
    let w = hub
        .rest("GET", &format!("/api/v1/warnings/{wid}"), &hub.admin, None)
        .json();
    assert_eq!(w["exercise"], true);
    let pc = csrf(&player);
    l.clock.advance(std::time::Duration::from_secs(12 * 60));
    let r = post(
        hub,
        &format!("/warnings/{wid}/status"),
        Some(&player),
        &[("csrf", &pc), ("status", "acknowledged")],
    );
    assert_eq!(r.status, 303);

    // After action: one delivered, one answered, twelve minutes after the inject.
    let after = get(hub, &path, Some(&lead)).body;
    assert!(
        after.contains("<td>Water Bureau</td><td>Acknowledged</td><td>12</td>"),
        "{after}"
    );
    assert_eq!(
        post(hub, &format!("{path}/end"), Some(&lead), &[("csrf", &lc)]).status,
        303
    );
    assert!(!get(hub, "/inbox", Some(&player)).body.contains(banner));
    assert_eq!(
        post(hub, &format!("{path}/inject"), Some(&lead), &inject).status,
        409
    );
    // Members see the exercises they took part in, not the after-action view.
    assert!(get(hub, "/exercises", Some(&player))
        .body
        .contains("Tabletop"));
    assert!(!get(hub, "/exercises", Some(&other))
        .body
        .contains("Tabletop"));
    assert_eq!(get(hub, &path, Some(&player)).status, 303);
}

#[test]
fn a_warning_is_written_previewed_in_both_languages_and_published() {
    let l = lab();
    let hub = &l.hub;
    let coordinator = hub.store.coordinator().unwrap().unwrap().id;
    let (org, _) = hub.member("Water Bureau", "local-government");
    let org_id = org["id"].as_str().unwrap();
    let (author, _) = join(&l, &coordinator, "author@ncert.example", "analyst");
    let (reader, _) = join(&l, org_id, "reader@water.example", "read-only");
    let page = get(hub, "/warnings/new", Some(&author));
    assert_eq!(page.status, 200);
    let csrf = input(&page.body, "csrf");
    let form = |action: &'static str, title_ja: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("title_en", "VPN appliance exploited".to_string()),
            ("title_ja", title_ja.to_string()),
            ("summary_en", "Patch the VPN appliance.".to_string()),
            ("summary_ja", "VPN 装置を更新してください。".to_string()),
            ("severity", "critical".to_string()),
            ("tlp", "amber".to_string()),
            ("audience", "organizations".to_string()),
            ("organizations", org_id.to_string()),
            ("ack_required", "on".to_string()),
            ("action", action.to_string()),
        ]
    };
    let send = |f: Vec<(&str, String)>| {
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        post(hub, "/warnings/new", Some(&author), &f)
    };
    let before = hub.rest("GET", "/api/v1/warnings", &hub.admin, None).json();
    let r = send(form("preview", "VPN 装置の悪用"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("<article class=\"preview\" lang=\"en\""));
    assert!(r.body.contains("<article class=\"preview\" lang=\"ja\""));
    assert!(r.body.contains("VPN 装置の悪用") && r.body.contains("VPN appliance exploited"));
    let after = hub.rest("GET", "/api/v1/warnings", &hub.admin, None).json();
    assert_eq!(before, after, "a preview stores nothing");
    // A wrong audience is refused naming the field, before anything is stored.
    let mut bad = form("preview", "x");
    bad[8].1 = "no-such-org".into();
    let r = send(bad);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("audience"), "{}", r.body);

    let r = send(form("create", "VPN 装置の悪用"));
    assert_eq!(r.status, 303, "{}", r.body);
    let path = r.header("location").unwrap().to_string();
    let draft = get(hub, &path, Some(&author));
    assert!(
        draft.body.contains("/publish\""),
        "a draft offers publishing"
    );
    // Nobody else sees a draft.
    assert_eq!(get(hub, &path, Some(&reader)).status, 404);
    let c = input(&draft.body, "csrf");
    assert_eq!(
        post(
            hub,
            &format!("{path}/publish"),
            Some(&author),
            &[("csrf", &c)]
        )
        .status,
        303
    );
    // The read-only recipient reads it (in its language) but is offered no status form.
    let seen = get(hub, &format!("{path}?lang=ja"), Some(&reader));
    assert_eq!(seen.status, 200);
    assert!(seen.body.contains("VPN 装置の悪用"));
    assert!(!seen.body.contains("name=\"status\""));
    let rc = input(&seen.body, "csrf");
    let r = post(
        hub,
        &format!("{path}/status"),
        Some(&reader),
        &[("csrf", &rc), ("status", "acknowledged")],
    );
    assert_eq!(r.status, 403);
}

/// A multipart form body as a browser sends it: text fields and one file.
fn multipart(fields: &[(&str, &str)], file: (&str, &str, &[u8])) -> (String, Vec<u8>) {
    let boundary = "----hinomitestboundary7d1a";
    let mut b = Vec::new();
    for (k, v) in fields {
        b.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    let (name, filename, data) = file;
    b.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/json\r\n\r\n").as_bytes(),
    );
    b.extend_from_slice(data);
    b.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), b)
}

#[test]
fn a_member_uploads_an_sbom_and_reads_its_findings_and_the_public_advisories() {
    let l = lab();
    let hub = &l.hub;
    let coordinator = hub.store.coordinator().unwrap().unwrap().id;
    let (org, _) = hub.member("Data centre operator", "private");
    let (member, _) = join(&l, org["id"].as_str().unwrap(), "ops@dc.example", "analyst");
    let (lead, _) = join(&l, &coordinator, "watch@ncert.example", "analyst");
    let r = hub.rest(
        "POST",
        "/api/v1/advisories",
        &hub.admin,
        Some(crate::findings::shared(
            "csaf/cisa-sample/icsa-24-289-02.json",
        )),
    );
    assert_eq!(r.status, 201, "{}", r.body);

    let page = get(hub, "/assets", Some(&member));
    let csrf = input(&page.body, "csrf");
    let sbom = serde_json::to_vec(&json!({"components": [
        {"name": "Data Center Expert", "vendor": "Schneider Electric", "version": "8.1.0"}
    ]}))
    .unwrap();
    let (ct, body) = multipart(
        &[("csrf", &csrf), ("asset", "dc-east")],
        ("sbom", "dc-east.json", &sbom),
    );
    let send = |cookie: &str, ct: &str, body: &[u8]| match agent()
        .post(&hub.url("/assets"))
        .set("Cookie", cookie)
        .set("Sec-Fetch-Site", "same-origin")
        .set("Content-Type", ct)
        .send_bytes(body)
    {
        Ok(r) => (
            r.status(),
            r.header("location").unwrap_or("").to_string(),
            r.into_string().unwrap_or_default(),
        ),
        Err(ureq::Error::Status(code, r)) => {
            (code, String::new(), r.into_string().unwrap_or_default())
        }
        Err(e) => panic!("{e}"),
    };
    let (status, location, _) = send(&member, &ct, &body);
    assert_eq!((status, location.as_str()), (303, "/assets?uploaded=2"));
    let assets = get(hub, "/assets?uploaded=2", Some(&member)).body;
    assert!(
        assets.contains("<td>dc-east</td>")
            && assets.contains("The inventory is stored and matched.")
    );
    // Not JSON: refused naming the file; without the form token: refused.
    let (ct2, bad) = multipart(
        &[("csrf", &csrf), ("asset", "dc-west")],
        ("sbom", "notes.txt", b"not json"),
    );
    let (status, _, body2) = send(&member, &ct2, &bad);
    assert_eq!(status, 400);
    assert!(body2.contains("notes.txt: not JSON"), "{body2}");
    let (ct3, forged) = multipart(&[("asset", "x")], ("sbom", "x.json", &sbom));
    assert_eq!(send(&member, &ct3, &forged).0, 403);

    let findings = get(hub, "/findings", Some(&member)).body;
    assert!(
        findings.contains("CVE-2024-8530") && findings.contains("<td>Affected</td>"),
        "{findings}"
    );
    assert!(findings.contains("ICSA-24-289-02"));
    // The coordinator's dashboard counts the organization as affected.
    let dash = get(hub, "/dashboard", Some(&lead)).body;
    assert!(
        dash.contains("<td>ICSA-24-289-02</td><td>1</td><td>1</td>"),
        "{dash}"
    );
    // The public advisory list shows the TLP:CLEAR advisory, searchable by CVE.
    let public = get(hub, "/public/advisories?cve=CVE-2024-8530", None).body;
    assert!(
        public.contains("ICSA-24-289-02") && public.contains("TLP:CLEAR"),
        "{public}"
    );
    let none = get(hub, "/public/advisories?cve=CVE-1999-0001", None).body;
    assert!(!none.contains("ICSA-24-289-02"));
}

#[test]
fn a_member_admin_invites_colleagues_and_an_analyst_may_not() {
    let l = lab();
    let hub = &l.hub;
    let (org, _) = hub.member("Grid Operator", "private");
    let org_id = org["id"].as_str().unwrap();
    let (admin, _) = join(&l, org_id, "admin@grid.example", "admin");
    let (analyst, _) = join(&l, org_id, "analyst@grid.example", "analyst");
    let page = get(hub, "/account", Some(&admin));
    assert!(page.body.contains("action=\"/account/invitations\""));
    let csrf = input(&page.body, "csrf");
    let r = post(
        hub,
        "/account/invitations",
        Some(&admin),
        &[
            ("csrf", &csrf),
            ("email", "new@grid.example"),
            ("role", "read-only"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let link = between(&r.body, "<code id=\"invitation-link\">", "</code>").to_string();
    let path = &link[link.find("/invite/").unwrap()..];
    let invite = get(hub, path, None);
    assert_eq!(invite.status, 200);
    assert!(invite.body.contains("Grid Operator") && invite.body.contains("new@grid.example"));
    // An analyst is offered no form and is refused.
    let page = get(hub, "/account", Some(&analyst));
    assert!(!page.body.contains("action=\"/account/invitations\""));
    let csrf = input(&page.body, "csrf");
    let r = post(
        hub,
        "/account/invitations",
        Some(&analyst),
        &[
            ("csrf", &csrf),
            ("email", "x@grid.example"),
            ("role", "admin"),
        ],
    );
    assert_eq!(r.status, 403);
}

#[test]
fn the_coordinator_registers_members_invites_their_people_and_suspends_them() {
    let l = lab();
    let hub = &l.hub;
    let coordinator = hub.store.coordinator().unwrap().unwrap().id;
    let (admin, _) = join(&l, &coordinator, "registrar@ncert.example", "admin");
    let (analyst, _) = join(&l, &coordinator, "watch@ncert.example", "analyst");
    let page = get(hub, "/members", Some(&admin));
    assert_eq!(page.status, 200);
    let csrf = input(&page.body, "csrf");
    let r = post(
        hub,
        "/members",
        Some(&admin),
        &[
            ("csrf", &csrf),
            ("name", "Port Authority"),
            ("kind", "government"),
            ("sectors", "transport"),
            ("country", "JP"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let path = r.header("location").unwrap().to_string();
    let org_id = path.trim_start_matches("/members/").to_string();
    assert!(get(hub, "/members", Some(&admin))
        .body
        .contains("Port Authority"));
    // A wrong kind is refused naming the field.
    let r = post(
        hub,
        "/members",
        Some(&admin),
        &[("csrf", &csrf), ("name", "X"), ("kind", "club")],
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("kind: &#39;club&#39;"), "{}", r.body);
    // An analyst reads the directory but changes nothing.
    let ap = get(hub, &path, Some(&analyst));
    assert_eq!(ap.status, 200);
    assert!(!ap.body.contains("/invite\""));
    let ac = input(&ap.body, "csrf");
    let r = post(
        hub,
        &format!("{path}/suspend"),
        Some(&analyst),
        &[("csrf", &ac)],
    );
    assert_eq!(r.status, 403);

    let r = post(
        hub,
        &format!("{path}/invite"),
        Some(&admin),
        &[
            ("csrf", &csrf),
            ("email", "harbour@port.example"),
            ("role", "analyst"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("id=\"invitation-link\""));
    let (person, _) = join(&l, &org_id, "second@port.example", "analyst");
    assert_eq!(get(hub, "/inbox", Some(&person)).status, 200);
    assert!(get(hub, &path, Some(&admin))
        .body
        .contains("second@port.example"));
    // Suspending stops its people at once; reinstating lets them back.
    let r = post(
        hub,
        &format!("{path}/suspend"),
        Some(&admin),
        &[("csrf", &csrf), ("reason", "audit")],
    );
    assert_eq!(r.status, 303);
    assert_eq!(get(hub, "/inbox", Some(&person)).status, 303);
    let r = post(
        hub,
        &format!("{path}/reinstate"),
        Some(&admin),
        &[("csrf", &csrf)],
    );
    assert_eq!(r.status, 303);
    assert_eq!(get(hub, "/inbox", Some(&person)).status, 200);
    // Members do not manage members.
    assert_eq!(
        get(hub, "/members", Some(&person)).header("location"),
        Some("/inbox")
    );
}

#[test]
fn an_organization_manages_its_subscription_in_the_browser() {
    let l = lab();
    let hub = &l.hub;
    let (org, token) = hub.member("Water Bureau", "local-government");
    let org_id = org["id"].as_str().unwrap();
    let (analyst, _) = join(&l, org_id, "soc@water.example", "analyst");
    let (reader, _) = join(&l, org_id, "viewer@water.example", "read-only");
    let page = get(hub, "/subscription", Some(&analyst));
    assert_eq!(page.status, 200);
    let csrf = input(&page.body, "csrf");
    let r = post(
        hub,
        "/subscription/settings",
        Some(&analyst),
        &[
            ("csrf", &csrf),
            ("language", "ja"),
            ("min_severity", "high"),
            ("sectors", "water"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let api = hub.rest("GET", "/api/v1/subscription", &token, None).json();
    assert_eq!(
        (api["language"].as_str(), api["min_severity"].as_str()),
        (Some("ja"), Some("high"))
    );
    assert_eq!(api["sectors"], json!(["water"]));

    let r = post(
        hub,
        "/subscription/webhooks",
        Some(&analyst),
        &[("csrf", &csrf), ("url", "http://127.0.0.1:9/hinomi")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let secret = between(&r.body, "<code id=\"webhook-secret\">", "</code>");
    assert!(secret.starts_with("whsec_"), "{secret}");
    // Shown once: the page does not show it again.
    let page = get(hub, "/subscription", Some(&analyst)).body;
    assert!(!page.contains(secret) && page.contains("http://127.0.0.1:9/hinomi"));
    let r = post(
        hub,
        "/subscription/webhooks",
        Some(&analyst),
        &[("csrf", &csrf), ("url", "not a url")],
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("url:"), "{}", r.body);
    let r = post(
        hub,
        "/subscription/contacts",
        Some(&analyst),
        &[
            ("csrf", &csrf),
            ("email", "duty@water.example"),
            ("role", "escalation"),
            ("language", ""),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let api = hub.rest("GET", "/api/v1/subscription", &token, None).json();
    let hook = api["webhooks"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(api["contacts"][0]["role"], "escalation");
    let r = post(
        hub,
        &format!("/subscription/webhook:{hook}"),
        Some(&analyst),
        &[("csrf", &csrf)],
    );
    assert_eq!(r.status, 303);
    let api = hub.rest("GET", "/api/v1/subscription", &token, None).json();
    assert_eq!(api["webhooks"], json!([]));

    // A read-only person sees the subscription and changes nothing.
    let page = get(hub, "/subscription", Some(&reader)).body;
    assert!(
        page.contains("duty@water.example") && !page.contains("action=\"/subscription/contacts\"")
    );
    let rc = input(&page, "csrf");
    let r = post(
        hub,
        "/subscription/settings",
        Some(&reader),
        &[("csrf", &rc), ("language", "en"), ("min_severity", "low")],
    );
    assert_eq!(r.status, 403);
}

#[test]
fn the_coordinator_refers_a_case_to_law_enforcement_from_its_page() {
    let l = lab();
    let hub = &l.hub;
    let coordinator = hub.store.coordinator().unwrap().unwrap().id;
    let (_, member) = hub.member("Water Bureau", "local-government");
    let (police, _) = hub.member("National Police Cyber Unit", "law-enforcement");
    let (lead, _) = join(&l, &coordinator, "triage@ncert.example", "analyst");
    let r = hub.rest(
        "POST",
        "/api/v1/incidents/reports",
        &member,
        Some(
            json!({"title": "Extortion e-mail after a breach", "discovered": "2026-12-07T08:00:00Z",
            "consent": {"law_enforcement": "yes"}}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let case = r.json()["incident"].as_str().unwrap().to_string();
    let path = format!("/incidents/{case}");
    let page = get(hub, &path, Some(&lead));
    assert!(
        page.body.contains("National Police Cyber Unit"),
        "{}",
        page.body
    );
    let csrf = input(&page.body, "csrf");
    let r = post(
        hub,
        &format!("{path}/referral"),
        Some(&lead),
        &[
            ("csrf", &csrf),
            ("to", police["id"].as_str().unwrap()),
            ("parts", "case"),
            ("parts", "reports"),
            ("note", "extortion"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let page = get(hub, &path, Some(&lead)).body;
    assert!(
        page.contains(
            "National Police Cyber Unit · <strong>shared</strong> · the case, the reports"
        ),
        "{page}"
    );
    // The timeline says it in the page's language.
    assert!(page.contains("referred to law enforcement"));
    let ja = get(hub, &format!("{path}?lang=ja"), Some(&lead)).body;
    assert!(
        ja.contains("法執行機関へ連携") && ja.contains("報告受付"),
        "{ja}"
    );
    // Referring to an organization that is not law enforcement is refused on the page.
    let r = post(
        hub,
        &format!("{path}/referral"),
        Some(&lead),
        &[("csrf", &csrf), ("to", &coordinator)],
    );
    assert_eq!(r.status, 400, "{}", r.body);
}

#[test]
fn a_member_shares_observables_as_indicators_other_members_read() {
    let l = lab();
    let hub = &l.hub;
    let (org, _) = hub.member("Water Bureau", "local-government");
    let (_, other) = hub.member("Grid Operator", "private");
    let (analyst, _) = join(
        &l,
        org["id"].as_str().unwrap(),
        "soc@water.example",
        "analyst",
    );
    let page = get(hub, "/share", Some(&analyst));
    let csrf = input(&page.body, "csrf");
    let r = post(
        hub,
        "/share",
        Some(&analyst),
        &[
            ("csrf", &csrf),
            ("name", "C2 of the VPN campaign"),
            ("observables", "203.0.113.99\nc2.evil.example"),
            ("tlp", "green"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Indicators shared: 2"), "{}", r.body);
    let got = hub.taxii_get(
        &format!(
            "{}?match[type]=indicator",
            crate::objects_path(crate::SHARED)
        ),
        Some(&other),
    );
    let patterns: Vec<String> = got.json()["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["pattern"].as_str().unwrap().to_string())
        .collect();
    assert!(
        patterns.contains(&"[ipv4-addr:value = '203.0.113.99']".to_string()),
        "{patterns:?}"
    );
    assert!(patterns.contains(&"[domain-name:value = 'c2.evil.example']".to_string()));
    // A line that is no observable is refused naming the line; nothing is stored.
    let r = post(
        hub,
        "/share",
        Some(&analyst),
        &[
            ("csrf", &csrf),
            ("name", "x"),
            ("observables", "203.0.113.1\nnot one"),
            ("tlp", "green"),
        ],
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("observables line 2"), "{}", r.body);
}

#[test]
fn the_dashboard_counts_open_real_cases_by_severity_and_sector_once_each() {
    let l = lab();
    let hub = &l.hub;
    let coordinator = hub.store.coordinator().unwrap().unwrap().id;
    let mk = |name: &str, sectors: Value| {
        let r = hub.rest(
            "POST",
            "/api/v1/organizations",
            &hub.admin,
            Some(json!({"name": name, "kind": "private", "sectors": sectors})),
        );
        let id = r.json()["id"].as_str().unwrap().to_string();
        let t = hub.rest(
            "POST",
            &format!("/api/v1/organizations/{id}/tokens"),
            &hub.admin,
            Some(json!({"role": "member"})),
        );
        t.json()["token"].as_str().unwrap().to_string()
    };
    let grid = mk("Grid", json!(["energy"]));
    let utility = mk("Utility", json!(["energy", "water"]));
    let report = |token: &str, exercise: bool| {
        let r = hub.rest(
            "POST",
            "/api/v1/incidents/reports",
            token,
            Some(json!({"title": "Outage", "discovered": "2026-12-07T08:00:00Z", "exercise": exercise})),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        r.json()["incident"].as_str().unwrap().to_string()
    };
    let a = report(&grid, false);
    let b = report(&utility, false);
    report(&utility, true); // an exercise: never counted
    let closed = report(&grid, false);
    // One case with reporters of both organizations: energy once, water once.
    let r = hub.rest(
        "POST",
        &format!("/api/v1/incidents/{a}/merge"),
        &hub.admin,
        Some(json!({"incidents": [b]})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = hub.rest(
        "PATCH",
        &format!("/api/v1/incidents/{a}"),
        &hub.admin,
        Some(json!({"severity": "high"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = hub.rest(
        "POST",
        &format!("/api/v1/incidents/{closed}/state"),
        &hub.admin,
        Some(json!({"state": "false-positive"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let (lead, _) = join(&l, &coordinator, "watch@ncert.example", "analyst");
    let dash = get(hub, "/dashboard", Some(&lead)).body;
    let section = between(&dash, "By the reporters&#39; sectors", "</div>");
    assert!(
        section.contains("energy: <strong>1</strong>")
            && section.contains("water: <strong>1</strong>"),
        "{section}"
    );
    let section = between(&dash, "By severity", "</div>");
    assert!(
        section.contains("High: <strong>1</strong>") && !section.contains("Not yet assessed"),
        "{section}"
    );
}
