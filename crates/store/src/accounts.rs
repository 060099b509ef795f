//! People: users of an organization, their browser sessions and invitations.
//!
//! The store keeps only what cannot be used if the database leaks: an Argon2id hash of
//! each password (computed by the hub), the TOTP secret sealed with the hub's master key
//! (which is not in the database), and SHA-256 hashes of session cookies and invitation
//! links. Policy (who may invite whom, lockout thresholds, session lifetimes) is the
//! hub's; every change is audited in its transaction, naming the user.

use serde_json::json;

use hinomi_stix::Timestamp;

use crate::db::{Conn, Row};
use crate::model::{org_from_row, principal_in, ORG_COLUMNS};
use crate::{append_audit, hash_token, Principal, Role, Store, StoreError};

/// A user of an organization.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRow {
    pub id: String,
    pub org_id: String,
    /// Lowercased; unique across the hub.
    pub email: String,
    pub name: String,
    /// `admin`, `analyst` or `read-only`.
    pub role: String,
    pub password_hash: String,
    pub totp_sealed: String,
    /// The last TOTP time step accepted (a code is good once).
    pub totp_last_step: i64,
    /// `en` or `ja`.
    pub locale: String,
    pub failed_logins: i64,
    pub locked_until: Option<Timestamp>,
    pub created: Timestamp,
    pub disabled: Option<Timestamp>,
}

const USER_COLUMNS: &str = "id, org_id, email, name, role, password_hash, totp_sealed, totp_last_step, locale, failed_logins, locked_until, created, disabled";

fn user_from_row(r: &Row) -> UserRow {
    UserRow {
        id: r[0].text(),
        org_id: r[1].text(),
        email: r[2].text(),
        name: r[3].text(),
        role: r[4].text(),
        password_hash: r[5].text(),
        totp_sealed: r[6].text(),
        totp_last_step: r[7].int(),
        locale: r[8].text(),
        failed_logins: r[9].int(),
        locked_until: r[10].opt_int().map(Timestamp),
        created: Timestamp(r[11].int()),
        disabled: r[12].opt_int().map(Timestamp),
    }
}

/// A browser session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    /// The per-session token every form carries.
    pub csrf: String,
    /// Whether the second factor was given; a session without it opens nothing but the
    /// code form.
    pub second_factor: bool,
    pub created: Timestamp,
    pub last_seen: Timestamp,
    pub expires: Timestamp,
    pub user_agent: Option<String>,
    pub revoked: Option<Timestamp>,
}

const SESSION_COLUMNS: &str =
    "s.id, s.user_id, s.csrf, s.second_factor, s.created, s.last_seen, s.expires, s.user_agent, s.revoked";

fn session_from_row(r: &Row) -> SessionRow {
    SessionRow {
        id: r[0].text(),
        user_id: r[1].text(),
        csrf: r[2].text(),
        second_factor: r[3].int() != 0,
        created: Timestamp(r[4].int()),
        last_seen: Timestamp(r[5].int()),
        expires: Timestamp(r[6].int()),
        user_agent: r[7].opt_text(),
        revoked: r[8].opt_int().map(Timestamp),
    }
}

/// How long a session waits for its second factor.
const HALF_OPEN_MICROS: i64 = 5 * 60 * 1_000_000;

/// An invitation to become a user of an organization.
#[derive(Debug, Clone, PartialEq)]
pub struct InvitationRow {
    pub org_id: String,
    pub email: String,
    pub role: String,
    pub created_by: String,
    pub created: Timestamp,
    pub expires: Timestamp,
    pub used: Option<Timestamp>,
}

/// What a session cookie opens: the session, its user and the user's principal (the
/// organization's audience keys; `token_id` is `user:<id>`).
#[derive(Debug, Clone)]
pub struct SessionAuth {
    pub session: SessionRow,
    pub user: UserRow,
    pub principal: Principal,
}

/// The API role a user of `org` acts with: the coordinator's admins administer the
/// hub; a member's admins and analysts write as the member.
pub fn user_role(role: &str, coordinator: bool) -> Role {
    match (role, coordinator) {
        ("admin", true) => Role::Admin,
        ("analyst", true) => Role::Analyst,
        ("admin" | "analyst", false) => Role::Member,
        _ => Role::ReadOnly,
    }
}

fn user_in(c: &mut Conn, id: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(c.query_one(
        &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"),
        &[id.into()],
    )?
    .map(|r| user_from_row(&r)))
}

impl Store {
    /// Records an invitation whose link carries `secret`.
    pub fn create_invitation(
        &self,
        secret: &str,
        inv: &InvitationRow,
        actor_org: &str,
    ) -> Result<(), StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                c.query_one(
                    "SELECT 1 FROM organizations WHERE id = ? AND removed IS NULL",
                    &[(&inv.org_id).into()],
                )?
                .ok_or_else(|| {
                    StoreError::NotFound(format!("organization {} not found", inv.org_id))
                })?;
                c.execute(
                    "INSERT INTO invitations (hash, org_id, email, role, created_by, created, expires) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    &[
                        hash_token(secret).into(),
                        (&inv.org_id).into(),
                        (&inv.email).into(),
                        (&inv.role).into(),
                        (&inv.created_by).into(),
                        inv.created.micros().into(),
                        inv.expires.micros().into(),
                    ],
                )?;
                append_audit(
                    c,
                    Some(actor_org),
                    "user.invite",
                    Some(&inv.org_id),
                    &json!({"email": inv.email, "role": inv.role, "expires": inv.expires.to_string()}),
                )
            })
        })
    }

    /// The invitation a link's secret opens, whatever its state.
    pub fn invitation(&self, secret: &str) -> Result<Option<InvitationRow>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query_one(
                "SELECT org_id, email, role, created_by, created, expires, used FROM invitations WHERE hash = ?",
                &[hash_token(secret).into()],
            )?
            .map(|r| InvitationRow {
                org_id: r[0].text(),
                email: r[1].text(),
                role: r[2].text(),
                created_by: r[3].text(),
                created: Timestamp(r[4].int()),
                expires: Timestamp(r[5].int()),
                used: r[6].opt_int().map(Timestamp),
            }))
        })
    }

    /// Turns an open invitation into `user` (one transaction: an invitation is used
    /// once, an address belongs to one user). Conflict when the link was used, expired
    /// meanwhile, or the address is taken.
    pub fn accept_invitation(
        &self,
        secret: &str,
        user: &UserRow,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                let n = c.execute(
                    "UPDATE invitations SET used = ? WHERE hash = ? AND used IS NULL AND expires > ?",
                    &[now.micros().into(), hash_token(secret).into(), now.micros().into()],
                )?;
                if n == 0 {
                    return Err(StoreError::Conflict(
                        "this invitation has been used or has expired".into(),
                    ));
                }
                if c.query_one(
                    "SELECT 1 FROM organizations WHERE id = ? AND suspended IS NULL AND removed IS NULL",
                    &[(&user.org_id).into()],
                )?
                .is_none()
                {
                    return Err(StoreError::Conflict(
                        "the organization of this invitation is suspended or removed".into(),
                    ));
                }
                if c.query_one("SELECT 1 FROM users WHERE email = ?", &[(&user.email).into()])?
                    .is_some()
                {
                    return Err(StoreError::Conflict(format!(
                        "a user with the address {} exists",
                        user.email
                    )));
                }
                c.execute(
                    &format!("INSERT INTO users ({USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                    &[
                        (&user.id).into(),
                        (&user.org_id).into(),
                        (&user.email).into(),
                        (&user.name).into(),
                        (&user.role).into(),
                        (&user.password_hash).into(),
                        (&user.totp_sealed).into(),
                        user.totp_last_step.into(),
                        (&user.locale).into(),
                        0i64.into(),
                        None::<i64>.into(),
                        user.created.micros().into(),
                        None::<i64>.into(),
                    ],
                )?;
                append_audit(
                    c,
                    Some(&user.org_id),
                    "user.create",
                    Some(&user.id),
                    &json!({"user": user.email, "role": user.role}),
                )
            })
        })
    }

    /// The user with this (lowercased) address.
    pub fn user_by_email(&self, email: &str) -> Result<Option<UserRow>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query_one(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE email = ?"),
                &[email.into()],
            )?
            .map(|r| user_from_row(&r)))
        })
    }

    /// One user.
    pub fn user(&self, id: &str) -> Result<Option<UserRow>, StoreError> {
        self.pool.with(|c| user_in(c, id))
    }

    /// The users of an organization, by address.
    pub fn users_of(&self, org_id: &str) -> Result<Vec<UserRow>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query(
                &format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE org_id = ? ORDER BY email LIMIT 1000"
                ),
                &[org_id.into()],
            )?
            .iter()
            .map(user_from_row)
            .collect())
        })
    }

    /// Counts a sign-in attempt (a password or a code) on `user_id` before it is
    /// checked, so that however many run at once, at most `lock_after` failures are
    /// ever checked before the account locks: an attempt beyond them locks it until
    /// `lock_until`. A lock that has run out starts the count again. Answers when the
    /// account is locked until (the attempt is refused, and the lock is not extended),
    /// or None: go on and check.
    pub fn login_attempt(
        &self,
        user_id: &str,
        now: Timestamp,
        lock_after: i64,
        lock_until: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                c.execute(
                    "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ? AND locked_until IS NOT NULL AND locked_until <= ?",
                    &[user_id.into(), now.micros().into()],
                )?;
                let n = c.execute(
                    "UPDATE users SET failed_logins = failed_logins + 1 WHERE id = ? AND locked_until IS NULL",
                    &[user_id.into()],
                )?;
                if n == 0 {
                    return Ok(user_in(c, user_id)?.and_then(|u| u.locked_until));
                }
                let locked = c.execute(
                    "UPDATE users SET locked_until = ? WHERE id = ? AND failed_logins > ?",
                    &[lock_until.micros().into(), user_id.into(), lock_after.into()],
                )?;
                if locked == 0 {
                    return Ok(None);
                }
                let u = user_in(c, user_id)?
                    .ok_or_else(|| StoreError::NotFound(format!("user {user_id} not found")))?;
                append_audit(
                    c,
                    Some(&u.org_id),
                    "user.locked",
                    Some(&u.id),
                    &json!({"user": u.email, "until": lock_until.to_string()}),
                )?;
                Ok(Some(lock_until))
            })
        })
    }

    /// An attempt counted by [`Store::login_attempt`] failed: the audit entry.
    pub fn login_failed(&self, user_id: &str, what: &str) -> Result<(), StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                let Some(u) = user_in(c, user_id)? else {
                    return Ok(());
                };
                append_audit(
                    c,
                    Some(&u.org_id),
                    "user.login-failed",
                    Some(&u.id),
                    &json!({"user": u.email, "failure": what, "attempts": u.failed_logins}),
                )
            })
        })
    }

    /// The password was right: its attempt no longer counts (the code's still will).
    pub fn password_passed(&self, user_id: &str) -> Result<(), StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                c.execute(
                    "UPDATE users SET failed_logins = CASE WHEN failed_logins > 0 THEN failed_logins - 1 ELSE 0 END WHERE id = ?",
                    &[user_id.into()],
                )?;
                Ok(())
            })
        })
    }

    /// Opens a session for `user_id` (password checked; the second factor not yet)
    /// whose cookie is `secret`.
    pub fn create_session(&self, secret: &str, s: &SessionRow) -> Result<(), StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                c.execute(
                    "INSERT INTO user_sessions (id, hash, user_id, csrf, second_factor, created, last_seen, expires, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    &[
                        (&s.id).into(),
                        hash_token(secret).into(),
                        (&s.user_id).into(),
                        (&s.csrf).into(),
                        i64::from(s.second_factor).into(),
                        s.created.micros().into(),
                        s.last_seen.micros().into(),
                        s.expires.micros().into(),
                        s.user_agent.as_deref().into(),
                    ],
                )?;
                Ok(())
            })
        })
    }

    /// The second factor was given with the code of time step `step`: the session is
    /// whole under a new cookie secret and form token (a session planted before
    /// sign-in is not the one that opens), the failure count starts again, and no code
    /// of that step or before is accepted again. False when the step was used already
    /// (a replayed code) or the session was completed meanwhile.
    pub fn complete_session(
        &self,
        session_id: &str,
        user_id: &str,
        step: i64,
        new_secret: &str,
        new_csrf: &str,
    ) -> Result<bool, StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                let n = c.execute(
                    "UPDATE users SET totp_last_step = ?, failed_logins = 0, locked_until = NULL WHERE id = ? AND totp_last_step < ?",
                    &[step.into(), user_id.into(), step.into()],
                )?;
                if n == 0 {
                    return Ok(false);
                }
                let n = c.execute(
                    "UPDATE user_sessions SET second_factor = 1, hash = ?, csrf = ? WHERE id = ? AND user_id = ? AND second_factor = 0 AND revoked IS NULL",
                    &[hash_token(new_secret).into(), new_csrf.into(), session_id.into(), user_id.into()],
                )?;
                if n == 0 {
                    return Err(StoreError::Conflict(
                        "this sign-in was completed or ended meanwhile; sign in again".into(),
                    ));
                }
                let u = user_in(c, user_id)?
                    .ok_or_else(|| StoreError::NotFound(format!("user {user_id} not found")))?;
                append_audit(
                    c,
                    Some(&u.org_id),
                    "user.login",
                    Some(&u.id),
                    &json!({"user": u.email, "session": session_id}),
                )?;
                Ok(true)
            })
        })
    }

    /// What a session cookie opens, if the session is live (not revoked, not expired,
    /// idle for less than `idle_micros`) and its user and organization are active.
    /// Notes the session as seen when it was last seen over a minute ago.
    pub fn session_auth(
        &self,
        secret: &str,
        now: Timestamp,
        idle_micros: i64,
    ) -> Result<Option<SessionAuth>, StoreError> {
        self.pool.with(|c| {
            let Some(r) = c.query_one(
                &format!(
                    "SELECT {SESSION_COLUMNS}, {} FROM user_sessions s JOIN users u ON u.id = s.user_id \
                     WHERE s.hash = ? AND s.revoked IS NULL AND u.disabled IS NULL",
                    USER_COLUMNS.split(", ").map(|c| format!("u.{c}")).collect::<Vec<_>>().join(", ")
                ),
                &[hash_token(secret).into()],
            )?
            else {
                return Ok(None);
            };
            let session = session_from_row(&r);
            let user = user_from_row(&r[9..].to_vec());
            let half_open_gone =
                !session.second_factor && now.micros() - session.created.micros() > HALF_OPEN_MICROS;
            if session.expires <= now
                || now.micros() - session.last_seen.micros() > idle_micros
                || half_open_gone
            {
                return Ok(None);
            }
            let Some(o) = c.query_one(
                &format!("SELECT {ORG_COLUMNS} FROM organizations WHERE id = ? AND suspended IS NULL AND removed IS NULL"),
                &[(&user.org_id).into()],
            )?
            else {
                return Ok(None);
            };
            let org = org_from_row(&o);
            let role = user_role(&user.role, org.kind == hinomi_access::OrgKind::Coordinator);
            let principal = principal_in(c, org, format!("user:{}", user.id), role)?;
            if now.micros() - session.last_seen.micros() > 60_000_000 {
                c.execute(
                    "UPDATE user_sessions SET last_seen = ? WHERE id = ?",
                    &[now.micros().into(), (&session.id).into()],
                )?;
            }
            Ok(Some(SessionAuth {
                session,
                user,
                principal,
            }))
        })
    }

    /// A user's sessions, newest first (the live ones and the last ended ones).
    pub fn sessions_of(&self, user_id: &str) -> Result<Vec<SessionRow>, StoreError> {
        self.pool.with(|c| {
            Ok(c.query(
                &format!("SELECT {SESSION_COLUMNS} FROM user_sessions s WHERE s.user_id = ? ORDER BY s.created DESC LIMIT 50"),
                &[user_id.into()],
            )?
            .iter()
            .map(session_from_row)
            .collect())
        })
    }

    /// Ends a session of `user_id` (logout, or revoked from the sessions list). False
    /// when there is no such live session.
    pub fn revoke_session(
        &self,
        user_id: &str,
        session_id: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                let n = c.execute(
                    "UPDATE user_sessions SET revoked = ? WHERE id = ? AND user_id = ? AND revoked IS NULL",
                    &[now.micros().into(), session_id.into(), user_id.into()],
                )?;
                if n > 0 {
                    let u = user_in(c, user_id)?
                        .ok_or_else(|| StoreError::NotFound(format!("user {user_id} not found")))?;
                    append_audit(
                        c,
                        Some(&u.org_id),
                        "user.session-end",
                        Some(&u.id),
                        &json!({"user": u.email, "session": session_id}),
                    )?;
                }
                Ok(n > 0)
            })
        })
    }

    /// A user's language for pages and e-mail.
    pub fn set_user_locale(&self, user_id: &str, locale: &str) -> Result<(), StoreError> {
        self.pool.with(|c| {
            c.write_tx(|c| {
                c.execute(
                    "UPDATE users SET locale = ? WHERE id = ?",
                    &[locale.into(), user_id.into()],
                )?;
                Ok(())
            })
        })
    }
}
