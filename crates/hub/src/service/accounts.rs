//! People who sign in to the web UI: invitations by link, passwords (Argon2id), a
//! second factor (TOTP, RFC 6238), lockout after repeated failures, and sessions that
//! are listed and revocable. API tokens stay for machines.
//!
//! Bounded cost: a password check is deliberately expensive, so at most
//! [`AccountsConfig::max_password_checks`] run at once and more wait a few seconds for
//! their turn, then are refused (busy); an unknown address costs the same check as a
//! known one. Every attempt (password or code) is counted before it is checked, so
//! parallel guesses cannot outrun the lockout.

use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use ring::rand::SecureRandom;
use serde_json::{json, Value};

use hinomi_access::OrgKind;
use hinomi_store::{InvitationRow, SessionAuth, SessionRow, Timestamp, UserRow};

use super::{hex, Error, Kind, Result, Viewer};
use crate::AppState;

/// Lockout, session and invitation policy.
#[derive(Debug, Clone)]
pub struct AccountsConfig {
    /// Consecutive failed sign-ins (password or code) that lock an account.
    pub lock_after: i64,
    /// How long a locked account stays locked.
    pub lock_for: Duration,
    /// A session unused this long ends.
    pub session_idle: Duration,
    /// A session ends this long after it began, used or not.
    pub session_max: Duration,
    /// How long an invitation link stays good.
    pub invitation_ttl: Duration,
    /// Password checks running at once, at most.
    pub max_password_checks: usize,
    /// Cookies carry `Secure` (the hub is served over HTTPS, directly or behind a proxy).
    pub secure_cookies: bool,
    /// The hub's public base URL for links (invitations); None: relative links.
    pub public_url: Option<String>,
    /// Sign-in form posts (password, code, invitation) per client address per minute;
    /// 0 turns the limit off.
    pub sign_in_rate_per_minute: u32,
}

impl Default for AccountsConfig {
    fn default() -> AccountsConfig {
        AccountsConfig {
            lock_after: 5,
            lock_for: Duration::from_secs(15 * 60),
            session_idle: Duration::from_secs(2 * 3600),
            session_max: Duration::from_secs(12 * 3600),
            invitation_ttl: Duration::from_secs(7 * 86400),
            max_password_checks: 2,
            secure_cookies: false,
            public_url: None,
            sign_in_rate_per_minute: 30,
        }
    }
}

/// The roles a user may have.
pub const ROLES: &[&str] = &["admin", "analyst", "read-only"];
/// The languages of the UI.
pub const LOCALES: &[&str] = &["en", "ja"];

const TOTP_STEP: i64 = 30;
const MIN_PASSWORD: usize = 12;
const MAX_PASSWORD: usize = 1024;

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| Error::internal("the system random source failed"))?;
    Ok(b)
}

/// RFC 4648 base32 without padding (how authenticator apps take a secret).
pub fn base32(data: &[u8]) -> String {
    const A: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buf, mut bits) = (0u32, 0);
    for &b in data {
        buf = (buf << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            out.push(A[((buf >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(A[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The TOTP code (RFC 6238: HMAC-SHA1, six digits) of `secret` at time step `step`.
pub fn totp(secret: &[u8], step: i64) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = ring::hmac::sign(&key, &step.to_be_bytes());
    let h = tag.as_ref();
    let off = (h[h.len() - 1] & 0x0f) as usize;
    let bin = u32::from_be_bytes([h[off] & 0x7f, h[off + 1], h[off + 2], h[off + 3]]);
    format!("{:06}", bin % 1_000_000)
}

fn step_at(t: Timestamp) -> i64 {
    t.micros().div_euclid(1_000_000) / TOTP_STEP
}

/// The step (now, or one step either side for clock drift) whose code `code` is.
fn code_step(secret: &[u8], code: &str, now: Timestamp) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let s = step_at(now);
    [s, s - 1, s + 1]
        .into_iter()
        .find(|&st| same(totp(secret, st).as_bytes(), code.as_bytes()))
}

/// Equality in time that depends on the length only.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::encode_b64(&random_bytes::<16>()?).map_err(Error::internal)?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(Error::internal)?
        .to_string())
}

/// A fixed hash checked when the address is unknown, so both cost the same.
fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| hash_password("hinomi: no such user here").unwrap_or_default())
}

fn password_matches(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Running password checks; see [`AccountsConfig::max_password_checks`]. More wait
/// their turn for up to [`CHECK_WAIT`], then are refused (busy).
#[derive(Default)]
pub struct PasswordChecks {
    running: std::sync::Mutex<usize>,
    freed: std::sync::Condvar,
}

/// How long a sign-in waits for a password check slot.
const CHECK_WAIT: Duration = Duration::from_secs(3);

struct CheckPermit<'a>(&'a PasswordChecks);

impl Drop for CheckPermit<'_> {
    fn drop(&mut self) {
        let mut n = self.0.running.lock().unwrap_or_else(|p| p.into_inner());
        *n = n.saturating_sub(1);
        self.0.freed.notify_one();
    }
}

fn check_permit(s: &AppState) -> Result<CheckPermit<'_>> {
    let checks = &s.password_checks;
    let max = s.config.accounts.max_password_checks.max(1);
    let n = checks.running.lock().unwrap_or_else(|p| p.into_inner());
    let (mut n, waited) = checks
        .freed
        .wait_timeout_while(n, CHECK_WAIT, |n| *n >= max)
        .unwrap_or_else(|p| p.into_inner());
    if waited.timed_out() && *n >= max {
        return Err(Error::new(
            Kind::TooManyRequests,
            "too many sign-ins at once; try again in a moment",
        ));
    }
    *n += 1;
    Ok(CheckPermit(checks))
}

fn bad(m: impl Into<String>) -> Error {
    Error::new(Kind::BadRequest, m)
}

fn check_password(password: &str) -> Result<()> {
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        return Err(bad(format!(
            "password: at least {MIN_PASSWORD} characters (a passphrase is best)"
        )));
    }
    if password.len() > MAX_PASSWORD {
        return Err(bad(format!("password: at most {MAX_PASSWORD} bytes")));
    }
    Ok(())
}

fn check_email(email: &str) -> Result<String> {
    let e = email.trim().to_lowercase();
    let ok = e.len() <= 254
        && e.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
        })
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        return Err(bad(format!(
            "email: '{}' is not an e-mail address",
            email.trim()
        )));
    }
    Ok(e)
}

fn check_locale(l: &str) -> Result<()> {
    if !LOCALES.contains(&l) {
        return Err(bad(format!("locale: '{l}' is not one of en, ja")));
    }
    Ok(())
}

/// A new invitation: the link's secret (shown once) and when it expires.
#[derive(Debug, Clone)]
pub struct Invitation {
    pub secret: String,
    pub link: String,
    pub expires: Timestamp,
}

/// Invites `email` to become a user of `org_id` with `role`. The coordinator's admins
/// invite anyone; a member organization's admin users invite to their own organization.
pub fn invite(
    s: &AppState,
    who: &Viewer,
    by_user: Option<&UserRow>,
    org_id: &str,
    email: &str,
    role: &str,
) -> Result<Invitation> {
    let p = who.require()?;
    let coordinator_admin = p.role == hinomi_store::Role::Admin;
    let own_admin = by_user.is_some_and(|u| u.role == "admin" && u.org_id == org_id);
    if !coordinator_admin && !own_admin {
        return Err(Error::new(
            Kind::Forbidden,
            "inviting users needs a coordinator admin, or an admin of that organization",
        ));
    }
    if !ROLES.contains(&role) {
        return Err(bad(format!(
            "role: '{role}' is not one of admin, analyst, read-only"
        )));
    }
    let email = check_email(email)?;
    let org = s.store.organization(org_id)?;
    if org.kind == OrgKind::PeerHub {
        return Err(bad("a peer hub has no users; it signs in with its token"));
    }
    if s.store.user_by_email(&email)?.is_some() {
        return Err(Error::new(
            Kind::Conflict,
            format!("a user with the address {email} exists"),
        ));
    }
    let now = s.config.clock.now();
    let expires = Timestamp(now.micros() + s.config.accounts.invitation_ttl.as_micros() as i64);
    let secret = format!("hnm_i_{}", hex(&random_bytes::<32>()?));
    let created_by = by_user.map_or_else(|| p.token_id.clone(), |u| format!("user:{}", u.id));
    s.store.create_invitation(
        &secret,
        &InvitationRow {
            org_id: org.id.clone(),
            email,
            role: role.to_string(),
            created_by,
            created: now,
            expires,
            used: None,
        },
        &p.org.id,
    )?;
    let base = s.config.accounts.public_url.as_deref().unwrap_or("");
    let link = format!("{}/invite/{secret}", base.trim_end_matches('/'));
    Ok(Invitation {
        secret,
        link,
        expires,
    })
}

/// What the invitation page shows: who is invited, and a new TOTP secret to enrol
/// (sealed into the form, so nothing is stored until the invitation is accepted).
#[derive(Debug, Clone)]
pub struct Enrolment {
    pub org_name: String,
    pub email: String,
    pub role: String,
    /// Base32, for typing into an authenticator app.
    pub totp_secret: String,
    /// `otpauth://totp/…` for apps that take a link.
    pub otpauth: String,
    pub sealed: String,
}

fn open_invitation(s: &AppState, secret: &str) -> Result<InvitationRow> {
    let gone = || {
        Error::new(
            Kind::NotFound,
            "this invitation link is not valid, was used already or has expired; ask for a new one",
        )
    };
    if secret.len() > 100 {
        return Err(gone());
    }
    let inv = s.store.invitation(secret)?.ok_or_else(gone)?;
    if inv.used.is_some() || inv.expires <= s.config.clock.now() {
        return Err(gone());
    }
    Ok(inv)
}

fn enrol_aad(secret: &str) -> String {
    format!("hinomi totp enrolment|{}", hinomi_store::hash_token(secret))
}

/// The enrolment of an open invitation.
pub fn enrolment(s: &AppState, secret: &str) -> Result<Enrolment> {
    let inv = open_invitation(s, secret)?;
    let org = s.store.organization(&inv.org_id)?;
    let totp_secret = random_bytes::<20>()?;
    let b32 = base32(&totp_secret);
    let issuer: String = s
        .config
        .title
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == ' ')
        .collect();
    let otpauth = format!(
        "otpauth://totp/{}:{}?secret={b32}&issuer={}&algorithm=SHA1&digits=6&period=30",
        issuer.replace(' ', "%20"),
        inv.email.replace('@', "%40"),
        issuer.replace(' ', "%20"),
    );
    Ok(Enrolment {
        org_name: org.name,
        email: inv.email,
        role: inv.role,
        totp_secret: b32,
        otpauth,
        sealed: s
            .config
            .notify
            .key
            .seal(&totp_secret, enrol_aad(secret).as_bytes()),
    })
}

/// What the invitee sends back.
#[derive(Debug, Clone, Default)]
pub struct AcceptInput {
    pub name: String,
    pub password: String,
    pub password_again: String,
    pub locale: String,
    pub sealed: String,
    pub code: String,
}

/// A session just opened: the cookie's secret (set once, stored hashed) and the row.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub secret: String,
    pub session: SessionRow,
}

fn open_session(
    s: &AppState,
    user_id: &str,
    complete: bool,
    user_agent: Option<&str>,
) -> Result<NewSession> {
    let now = s.config.clock.now();
    let secret = format!("hnm_s_{}", hex(&random_bytes::<32>()?));
    let session = SessionRow {
        id: format!("ses_{}", hex(&random_bytes::<8>()?)),
        user_id: user_id.to_string(),
        csrf: hex(&random_bytes::<24>()?),
        second_factor: complete,
        created: now,
        last_seen: now,
        expires: Timestamp(now.micros() + s.config.accounts.session_max.as_micros() as i64),
        user_agent: user_agent.map(|u| u.chars().take(200).collect()),
        revoked: None,
    };
    s.store.create_session(&secret, &session)?;
    Ok(NewSession { secret, session })
}

/// Accepts an invitation: checks the password and the first code of the enrolled
/// authenticator, creates the user and signs them in.
pub fn accept(
    s: &AppState,
    secret: &str,
    inp: AcceptInput,
    user_agent: Option<&str>,
) -> Result<NewSession> {
    let inv = open_invitation(s, secret)?;
    let name = inp.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(bad("name: between 1 and 200 characters"));
    }
    check_password(&inp.password)?;
    if inp.password != inp.password_again {
        return Err(bad("password: the two entries differ"));
    }
    check_locale(&inp.locale)?;
    let totp_secret = s
        .config
        .notify
        .key
        .open(&inp.sealed, enrol_aad(secret).as_bytes())
        .map_err(|_| bad("the enrolment form is damaged; open the invitation link again"))?;
    let now = s.config.clock.now();
    let step = code_step(&totp_secret, &inp.code, now).ok_or_else(|| {
        bad("code: not the current code of the authenticator app (check its clock)")
    })?;
    let _permit = check_permit(s)?;
    let id = format!("usr_{}", uuid::Uuid::new_v4().simple());
    let user = UserRow {
        id: id.clone(),
        org_id: inv.org_id.clone(),
        email: inv.email.clone(),
        name: name.to_string(),
        role: inv.role.clone(),
        password_hash: hash_password(&inp.password)?,
        totp_sealed: s
            .config
            .notify
            .key
            .seal(&totp_secret, totp_aad(&id).as_bytes()),
        totp_last_step: step,
        locale: inp.locale.clone(),
        failed_logins: 0,
        locked_until: None,
        created: now,
        disabled: None,
    };
    s.store.accept_invitation(secret, &user, now)?;
    open_session(s, &id, true, user_agent)
}

fn totp_aad(user_id: &str) -> String {
    format!("hinomi totp|{user_id}")
}

fn wrong_login() -> Error {
    Error::new(Kind::Unauthorized, "the address or the password is wrong")
}

/// The first step of signing in: the address and password. Answers a half-open
/// session that needs the code (see [`second_factor`]).
pub fn sign_in(
    s: &AppState,
    email: &str,
    password: &str,
    user_agent: Option<&str>,
) -> Result<NewSession> {
    if password.len() > MAX_PASSWORD || email.len() > 254 {
        return Err(wrong_login());
    }
    let email = email.trim().to_lowercase();
    let user = s.store.user_by_email(&email)?;
    let Some(user) = user.filter(|u| u.disabled.is_none()) else {
        let _permit = check_permit(s)?;
        let _ = password_matches(password, dummy_hash());
        return Err(wrong_login());
    };
    // Counted before it is checked; a locked account checks nothing.
    if let Some(until) = attempt(s, &user)? {
        return Err(locked(until));
    }
    let ok = {
        let _permit = check_permit(s)?;
        password_matches(password, &user.password_hash)
    };
    if !ok {
        s.store.login_failed(&user.id, "password")?;
        return Err(wrong_login());
    }
    s.store.password_passed(&user.id)?;
    open_session(s, &user.id, false, user_agent)
}

fn locked(until: Timestamp) -> Error {
    Error::new(
        Kind::TooManyRequests,
        format!(
            "this account is locked after repeated failed sign-ins, until {} UTC",
            &until.to_string()[..16].replace('T', " ")
        ),
    )
}

/// Counts an attempt; the lock's end when the account is locked.
fn attempt(s: &AppState, user: &UserRow) -> Result<Option<Timestamp>> {
    let a = &s.config.accounts;
    let now = s.config.clock.now();
    let until = Timestamp(now.micros() + a.lock_for.as_micros() as i64);
    Ok(s.store.login_attempt(&user.id, now, a.lock_after, until)?)
}

/// The second step: the authenticator's code for a half-open session. The session
/// opens under a new cookie secret (answered) and form token.
pub fn second_factor(s: &AppState, auth: &SessionAuth, code: &str) -> Result<NewSession> {
    if auth.session.second_factor {
        return Err(Error::new(
            Kind::Conflict,
            "this session is signed in already",
        ));
    }
    if let Some(until) = attempt(s, &auth.user)? {
        return Err(locked(until));
    }
    let secret = s
        .config
        .notify
        .key
        .open(&auth.user.totp_sealed, totp_aad(&auth.user.id).as_bytes())
        .map_err(Error::internal)?;
    let now = s.config.clock.now();
    let step = code_step(&secret, code, now).filter(|st| *st > auth.user.totp_last_step);
    let Some(step) = step else {
        s.store.login_failed(&auth.user.id, "code")?;
        return Err(Error::new(
            Kind::Unauthorized,
            "the code is wrong or was used already",
        ));
    };
    let cookie = format!("hnm_s_{}", hex(&random_bytes::<32>()?));
    let csrf = hex(&random_bytes::<24>()?);
    if !s
        .store
        .complete_session(&auth.session.id, &auth.user.id, step, &cookie, &csrf)?
    {
        return Err(Error::new(Kind::Unauthorized, "the code was used already"));
    }
    let mut session = auth.session.clone();
    session.second_factor = true;
    session.csrf = csrf;
    Ok(NewSession {
        secret: cookie,
        session,
    })
}

/// What a session cookie opens now, if anything.
pub fn session(s: &AppState, secret: &str) -> Result<Option<SessionAuth>> {
    if !secret.starts_with("hnm_s_") || secret.len() > 100 {
        return Ok(None);
    }
    let idle = s.config.accounts.session_idle.as_micros() as i64;
    Ok(s.store.session_auth(secret, s.config.clock.now(), idle)?)
}

/// The caller a whole session acts as.
pub fn viewer(s: &AppState, auth: &SessionAuth) -> Result<Viewer> {
    Ok(Viewer::of(&s.store, Some(auth.principal.clone()))?)
}

/// Ends one of the user's sessions (their own, or another from the list).
pub fn end_session(s: &AppState, auth: &SessionAuth, session_id: &str) -> Result<()> {
    if !s
        .store
        .revoke_session(&auth.user.id, session_id, s.config.clock.now())?
    {
        return Err(Error::new(
            Kind::NotFound,
            format!("no live session {session_id} of yours"),
        ));
    }
    Ok(())
}

/// The user's sessions, for the account page.
pub fn sessions(s: &AppState, auth: &SessionAuth) -> Result<Vec<Value>> {
    let now = s.config.clock.now();
    let idle = s.config.accounts.session_idle.as_micros() as i64;
    Ok(s.store
        .sessions_of(&auth.user.id)?
        .into_iter()
        .map(|x| {
            let live = x.revoked.is_none()
                && x.expires > now
                && now.micros() - x.last_seen.micros() <= idle;
            json!({
                "id": x.id,
                "current": x.id == auth.session.id,
                "live": live,
                "created": x.created.to_string(),
                "last_seen": x.last_seen.to_string(),
                "user_agent": x.user_agent,
            })
        })
        .collect())
}

/// Sets the user's language.
pub fn set_locale(s: &AppState, auth: &SessionAuth, locale: &str) -> Result<()> {
    check_locale(locale)?;
    Ok(s.store.set_user_locale(&auth.user.id, locale)?)
}

/// The users of the caller's organization (or, for the coordinator, of `org_id`).
pub fn users(s: &AppState, who: &Viewer, org_id: &str) -> Result<Vec<Value>> {
    let p = who.require()?;
    if p.org.id != org_id && p.org.kind != OrgKind::Coordinator {
        return Err(Error::new(
            Kind::NotFound,
            format!("organization {org_id} not found"),
        ));
    }
    Ok(s.store
        .users_of(org_id)?
        .into_iter()
        .map(|u| json!({"id": u.id, "email": u.email, "name": u.name, "role": u.role, "locale": u.locale, "created": u.created.to_string(), "locked": u.locked_until.is_some_and(|t| t > s.config.clock.now())}))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totp_matches_rfc_6238_vectors() {
        // RFC 6238 appendix B, SHA-1 secret "12345678901234567890" (eight digits there;
        // the last six are the six-digit code).
        let k = b"12345678901234567890";
        assert_eq!(totp(k, 59 / 30), "287082");
        assert_eq!(totp(k, 1111111109 / 30), "081804");
        assert_eq!(totp(k, 1234567890 / 30), "005924");
        assert_eq!(totp(k, 2000000000 / 30), "279037");
    }

    #[test]
    fn base32_is_rfc_4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
    }

    #[test]
    fn a_code_is_good_one_step_either_side_only() {
        let k = b"12345678901234567890";
        let now = Timestamp(1_000_000 * 1_000_020);
        let st = step_at(now);
        assert_eq!(code_step(k, &totp(k, st - 1), now), Some(st - 1));
        assert_eq!(code_step(k, &totp(k, st + 1), now), Some(st + 1));
        assert_eq!(code_step(k, &totp(k, st + 2), now), None);
        assert_eq!(code_step(k, "12345", now), None);
    }

    #[test]
    fn passwords_verify_against_their_hash_only() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(password_matches("correct horse battery", &h));
        assert!(!password_matches("correct horse batterz", &h));
    }
}
