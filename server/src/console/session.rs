//! Signing in and the session a console request runs in: a random cookie (HttpOnly,
//! SameSite=Strict, Secure when the server speaks TLS) whose SHA-256 names a row in
//! `console_sessions`; a synchronizer CSRF token bound to that row, required on every write
//! together with a same-origin check; sessions revocable like device tokens.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, HOST, ORIGIN, REFERER};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use outpost_core::{Member, Role};
use rand::Rng;
use sha2::{Digest, Sha256};

use super::db::{self, CodeUse, NewSession, SessionRow};
use super::i18n::Lang;
use crate::api::{App, now_ms};
use crate::scope::DirectoryIndex;
use crate::storage::{Storage, StoreResult};

pub const COOKIE_NAME: &str = "outpost_console";
pub const LANG_COOKIE: &str = "outpost_lang";
/// How long a session lasts from sign-in.
pub const SESSION_MS: i64 = 12 * 3_600_000;
/// A session's `seen_at` is written at most this often.
const TOUCH_MS: i64 = 60_000;

/// Whether members of this role may use the console. Station staff have no role of their
/// own in the directory yet: they are grid leads of their station's grids.
pub fn console_role(role: Role) -> bool {
    matches!(role, Role::GridLead | Role::Admin)
}

/// Random bytes as lowercase hex.
pub fn random_hex(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand::rng().fill(raw.as_mut_slice());
    hex::encode(raw)
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (da, db) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    let diff = da
        .iter()
        .zip(db.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// A cookie's value from the request, if well formed.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// The page language the request asks for.
pub fn lang_of(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE)
        .and_then(Lang::parse)
        .unwrap_or_default()
}

/// The `Set-Cookie` value of a new session.
pub fn session_cookie(token: &str, secure: bool) -> String {
    format!(
        "{COOKIE_NAME}={token}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{}",
        SESSION_MS / 1000,
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn cleared_cookie(secure: bool) -> String {
    format!(
        "{COOKIE_NAME}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Whether a write comes from a page of this server: the `Origin` header (every browser
/// sends it on a POST) must name this server; without it, `Sec-Fetch-Site` or the `Referer`
/// must agree. A request with none of the three (not a browser) still needs the CSRF token.
pub fn same_origin(headers: &HeaderMap, secure: bool) -> bool {
    let Some(host) = headers.get(HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let ours = format!("{}://{host}", if secure { "https" } else { "http" });
    if let Some(origin) = headers.get(ORIGIN) {
        return origin.to_str().is_ok_and(|o| o == ours);
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        return matches!(site.to_str(), Ok("same-origin" | "none"));
    }
    if let Some(r) = headers.get(REFERER) {
        return r
            .to_str()
            .is_ok_and(|r| r == ours || r.starts_with(&format!("{ours}/")));
    }
    true
}

/// A signed-in console member.
#[derive(Clone)]
pub struct Session {
    pub row: SessionRow,
    pub member: Member,
    pub dir: Arc<DirectoryIndex>,
    pub lang: Lang,
}

impl Session {
    /// Refuses a write that is not from this session's own page: wrong or missing CSRF
    /// token, or another site's origin.
    pub fn check_write(
        &self,
        headers: &HeaderMap,
        secure: bool,
        token: &str,
    ) -> Result<(), super::Refused> {
        if !same_origin(headers, secure) {
            tracing::warn!(member = %self.member.id, "console write from another origin refused");
            return Err(super::Refused::new(
                StatusCode::FORBIDDEN,
                "error.forbidden",
                "cross-site request refused",
            ));
        }
        if token.is_empty() || !same_secret(token, &self.row.csrf) {
            tracing::warn!(member = %self.member.id, "console write with a wrong CSRF token refused");
            return Err(super::Refused::new(
                StatusCode::FORBIDDEN,
                "error.forbidden",
                "the form's security token does not match your session; reload the page",
            ));
        }
        Ok(())
    }

    /// A display name for a member id from the directory.
    pub fn name_of<'a>(&'a self, member_id: &'a str) -> &'a str {
        self.dir
            .directory
            .members
            .iter()
            .find(|m| m.id == member_id)
            .map_or(member_id, |m| m.name.as_str())
    }

    pub fn unit_name<'a>(&'a self, unit_id: &'a str) -> &'a str {
        self.dir
            .directory
            .units
            .iter()
            .find(|u| u.id == unit_id)
            .map_or(unit_id, |u| u.name.as_str())
    }

    pub fn grid_name<'a>(&'a self, grid_id: &'a str) -> &'a str {
        self.dir
            .directory
            .grids
            .iter()
            .find(|g| g.id == grid_id)
            .map_or(grid_id, |g| g.name.as_str())
    }

    /// Whether the member sees cases of this grid.
    pub fn sees_grid(&self, grid: &str) -> bool {
        self.member.in_grid(grid)
    }

    /// The grids the member works on, for filters (all of the directory's for an
    /// administrator).
    pub fn grids(&self) -> Vec<String> {
        match self.member.role {
            Role::Admin => self
                .dir
                .directory
                .grids
                .iter()
                .map(|g| g.id.clone())
                .collect(),
            _ => self.member.grids.clone(),
        }
    }
}

/// Why a request has no session.
pub enum NoSession {
    /// A page: go and sign in.
    SignIn,
    /// Anything else: 401.
    Unauthorized,
    Failed(crate::error::ApiError),
}

impl IntoResponse for NoSession {
    fn into_response(self) -> Response {
        match self {
            NoSession::SignIn => Redirect::to("/console/login").into_response(),
            NoSession::Unauthorized => {
                (StatusCode::UNAUTHORIZED, "sign in to the console first").into_response()
            }
            NoSession::Failed(e) => e.into_response(),
        }
    }
}

impl FromRequestParts<Arc<App>> for Session {
    type Rejection = NoSession;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, NoSession> {
        let missing = if parts.method == Method::GET {
            NoSession::SignIn
        } else {
            NoSession::Unauthorized
        };
        let lang = lang_of(&parts.headers);
        super::start(app);
        let Some(token) = cookie(&parts.headers, COOKIE_NAME)
            .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        else {
            return Err(missing);
        };
        let hash = sha256_hex(token);
        let storage = app.storage.clone();
        let found =
            tokio::task::spawn_blocking(move || db::read(&*storage, |db| db::session(db, &hash)))
                .await
                .map_err(|e| NoSession::Failed(crate::error::ApiError::internal(e)))?
                .map_err(|e| NoSession::Failed(e.into()))?;
        let now = now_ms();
        let Some((row, version)) = found else {
            return Err(missing);
        };
        if row.revoked_at.is_some() || row.expires_at <= now {
            return Err(missing);
        }
        let dir = app.index(version).await.map_err(NoSession::Failed)?;
        let Some(member) = dir.member(&row.member_id).cloned() else {
            return Err(missing);
        };
        if !console_role(member.role) {
            return Err(missing);
        }
        if now - row.seen_at > TOUCH_MS {
            let (storage, id) = (app.storage.clone(), row.id.clone());
            // Best effort: a failed note of activity does not fail the request.
            let _ = tokio::task::spawn_blocking(move || {
                db::write(&*storage, |db| db::touch_session(db, &id, now))
            })
            .await;
        }
        Ok(Session {
            row,
            member,
            dir,
            lang,
        })
    }
}

/// The directory as stored now.
pub async fn current_directory(
    app: &Arc<App>,
) -> Result<Arc<DirectoryIndex>, crate::error::ApiError> {
    let storage = app.storage.clone();
    let version = tokio::task::spawn_blocking(move || storage.directory_version())
        .await
        .map_err(crate::error::ApiError::internal)??;
    app.index(version).await
}

/// What a sign-in attempt found.
pub enum SignIn {
    /// The member the code or password belongs to.
    Member(String),
    /// Wrong, used or expired; charged to this member's budget if it names one.
    Failed(Option<String>),
}

/// Spends a one-time code.
pub fn sign_in_with_code(storage: &dyn Storage, code: &str) -> StoreResult<SignIn> {
    let code = crate::api::normalize_code(code);
    if code.is_empty() || code.len() > 64 {
        return Ok(SignIn::Failed(None));
    }
    let hash = sha256_hex(&code);
    Ok(
        match db::write(storage, |db| db::spend_code(db, &hash, now_ms()))? {
            CodeUse::Spent(m) => SignIn::Member(m),
            CodeUse::Stale(m) => SignIn::Failed(Some(m)),
            CodeUse::Unknown => SignIn::Failed(None),
        },
    )
}

/// A PHC string no password matches, verified when a member has no password so that the
/// answer takes as long either way.
const NO_PASSWORD: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Yq0fQx1yYcN1vZtOAPpe1qD9kmxcYyO4x0Qp5Hq3d2I";

/// Checks a member's password (argon2; slow on purpose: call it off the async threads).
pub fn sign_in_with_password(
    storage: &dyn Storage,
    member: &str,
    password: &str,
) -> StoreResult<SignIn> {
    if member.is_empty() || member.len() > 200 || password.len() > 1024 {
        return Ok(SignIn::Failed(None));
    }
    let stored = db::read(storage, |db| db::password(db, member))?;
    let phc = stored.as_deref().unwrap_or(NO_PASSWORD);
    let ok = PasswordHash::new(phc).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    });
    Ok(if ok && stored.is_some() {
        SignIn::Member(member.to_string())
    } else {
        SignIn::Failed(Some(member.to_string()))
    })
}

/// The argon2id PHC string of a new password.
pub fn hash_password(password: &str) -> Result<String, String> {
    if password.chars().count() < 10 {
        return Err("a console password needs at least 10 characters".into());
    }
    if password.len() > 1024 {
        return Err("a console password may have at most 1024 bytes".into());
    }
    let mut salt = [0u8; 16];
    rand::rng().fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Opens a session for `member`; returns the cookie's token.
pub fn open_session(storage: &dyn Storage, member: &str, client: &str) -> StoreResult<String> {
    let token = random_hex(32);
    let id = random_hex(8);
    let actor = random_hex(16);
    let csrf = random_hex(32);
    let hash = sha256_hex(&token);
    let now = now_ms();
    db::write(storage, |db| {
        db::create_session(
            db,
            &NewSession {
                id: &id,
                token_hash: &hash,
                member_id: member,
                actor: &actor,
                csrf: &csrf,
                client,
                now,
                expires_at: now + SESSION_MS,
            },
        )
    })?;
    tracing::info!(member, session = %id, "console session opened");
    Ok(token)
}

/// The key sign-in attempts from an address are counted under.
pub fn address_key(peer: Option<std::net::SocketAddr>) -> IpAddr {
    peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| {
        crate::transport::client_key(p.ip())
    })
}

/// Makes a one-time console sign-in code for `member` (printed once; only its hash is
/// kept).
pub fn make_code(storage: &dyn Storage, member: &str, ttl_hours: i64) -> StoreResult<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    let raw: String = (0..12)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    let now = now_ms();
    let hash = sha256_hex(&raw);
    db::write(storage, |db| {
        db::create_code(db, &hash, member, now, now + ttl_hours.max(1) * 3_600_000)
    })?;
    Ok(format!("{}-{}-{}", &raw[0..4], &raw[4..8], &raw[8..12]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn origins_are_compared_with_the_host() {
        let mut h = HeaderMap::new();
        h.insert(HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(
            same_origin(&h, false),
            "no browser headers: the token decides"
        );
        h.insert(ORIGIN, HeaderValue::from_static("http://127.0.0.1:8080"));
        assert!(same_origin(&h, false));
        assert!(!same_origin(&h, true), "https page, http origin");
        h.insert(ORIGIN, HeaderValue::from_static("http://evil.example"));
        assert!(!same_origin(&h, false));
        h.remove(ORIGIN);
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&h, false));
    }

    #[test]
    fn passwords_hash_and_verify() {
        let phc = hash_password("correct horse battery").unwrap();
        let h = PasswordHash::new(&phc).unwrap();
        assert!(
            argon2::Argon2::default()
                .verify_password(b"correct horse battery", &h)
                .is_ok()
        );
        assert!(
            argon2::Argon2::default()
                .verify_password(b"wrong", &h)
                .is_err()
        );
        assert!(hash_password("short").is_err());
        assert!(PasswordHash::new(NO_PASSWORD).is_ok());
    }

    #[test]
    fn cookies_are_found_by_name() {
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("a=1; outpost_console=abc ; outpost_lang=en"),
        );
        assert_eq!(cookie(&h, COOKIE_NAME), Some("abc"));
        assert_eq!(lang_of(&h), Lang::En);
    }
}
