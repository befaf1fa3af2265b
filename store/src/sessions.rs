//! Server-side sessions: random tokens in cookies, their SHA-256 in the database.

use crate::sql;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::db::{now, Store, StoreError};
use crate::records::UserInfo;
use crate::users::to_info;

/// A user's row (see `users::UserRow`) and the session's expiry.
type SessionRow = (i64, String, String, bool, i64, i64);

/// The cookie that carries the session token.
pub const SESSION_COOKIE: &str = "vlm_session";

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Store {
    /// Opens a session for `user_id` and returns its secret token (shown once, never stored).
    pub async fn create_session(&self, user_id: i64) -> Result<String, StoreError> {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let token = hex::encode(bytes);
        let t = now();
        sql::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash(&token))
            .bind(user_id)
            .bind(t)
            .bind(t + self.options.session_ttl.as_secs() as i64)
            .execute(self.pool())
            .await?;
        Ok(token)
    }

    /// The enabled user a token belongs to, or None when it is unknown, expired or disabled.
    pub async fn session_user(&self, token: &str) -> Result<Option<UserInfo>, StoreError> {
        // One query on every request: the user's row and the session's expiry together.
        let row: Option<SessionRow> = sql::query_as(
            "SELECT u.id, u.username, u.role, u.disabled, u.created_at, s.expires_at
             FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = $1 AND NOT u.disabled",
        )
        .bind(token_hash(token))
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some((id, username, role, disabled, created_at, expires_at)) if expires_at > now() => {
                Ok(Some(to_info((id, username, role, disabled, created_at))?))
            }
            Some(_) => {
                self.end_session(token).await?;
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// Ends one session (logout). Unknown tokens are fine.
    pub async fn end_session(&self, token: &str) -> Result<(), StoreError> {
        sql::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash(token))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Deletes expired sessions; returns how many.
    pub async fn purge_expired_sessions(&self) -> Result<u64, StoreError> {
        let done = sql::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}

/// Finds the session token in a `Cookie` header value (parsed by the `cookie` crate; pairs it
/// cannot read are passed over).
pub fn token_from_cookie_header(header: &str) -> Option<&str> {
    cookie::Cookie::split_parse(header)
        .filter_map(Result::ok)
        .find(|c| c.name() == SESSION_COOKIE && !c.value().is_empty())
        .and_then(|c| c.value_raw())
}

/// The `Set-Cookie` value that stores a session token.
/// `secure` adds the `Secure` flag (when the server is reached over https).
pub fn session_cookie(token: &str, max_age_secs: u64, secure: bool) -> String {
    session_cookie_with(token, max_age_secs as i64, secure)
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_session_cookie(secure: bool) -> String {
    session_cookie_with("", 0, secure)
}

fn session_cookie_with(token: &str, max_age_secs: i64, secure: bool) -> String {
    cookie::Cookie::build((SESSION_COOKIE, token))
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(cookie::SameSite::Strict)
        .max_age(cookie::time::Duration::seconds(max_age_secs))
        .build()
        .to_string()
}

impl Store {
    /// Seconds a new session lasts (the cookie's Max-Age).
    pub fn session_ttl_secs(&self) -> u64 {
        self.options.session_ttl.as_secs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::StoreOptions;
    use crate::Role;
    use std::time::Duration;

    #[test]
    fn cookie_parsing() {
        assert_eq!(token_from_cookie_header("vlm_session=abc"), Some("abc"));
        assert_eq!(
            token_from_cookie_header("a=1; vlm_session=abc; b=2"),
            Some("abc")
        );
        assert_eq!(token_from_cookie_header("vlm_session="), None);
        assert_eq!(token_from_cookie_header("xvlm_session=abc"), None);
        assert_eq!(token_from_cookie_header(""), None);
        // Hostile headers: junk pairs are passed over, never a panic.
        assert_eq!(
            token_from_cookie_header(";;=;  vlm_session=abc ; x"),
            Some("abc")
        );
        assert_eq!(token_from_cookie_header("vlm_session"), None);
        assert_eq!(
            clear_session_cookie(false).split(';').next(),
            Some("vlm_session=")
        );
        assert!(clear_session_cookie(false).contains("Max-Age=0"));
        let c = session_cookie("t", 60, false);
        assert!(
            c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Max-Age=60")
        );
        assert!(!c.contains("Secure"));
        assert!(session_cookie("t", 60, true).contains("Secure"));
        assert!(clear_session_cookie(true).contains("Secure"));
    }

    #[tokio::test]
    async fn session_lifecycle() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::test_db::open(&dir.path().join("db"), StoreOptions::default())
            .await
            .unwrap();
        let u = s
            .create_user("ada", "password1", Role::Admin)
            .await
            .unwrap();
        let token = s.create_session(u.id).await.unwrap();
        assert_eq!(token.len(), 64);
        assert_eq!(
            s.session_user(&token).await.unwrap().unwrap().username,
            "ada"
        );
        assert!(s.session_user("forged").await.unwrap().is_none());
        s.end_session(&token).await.unwrap();
        assert!(s.session_user(&token).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn sessions_expire() {
        let dir = tempfile::tempdir().unwrap();
        let opts = StoreOptions {
            session_ttl: Duration::from_secs(0),
            ..Default::default()
        };
        let s = crate::test_db::open(&dir.path().join("db"), opts)
            .await
            .unwrap();
        let u = s
            .create_user("ada", "password1", Role::Admin)
            .await
            .unwrap();
        let token = s.create_session(u.id).await.unwrap();
        assert!(s.session_user(&token).await.unwrap().is_none());
        let (left,): (i64,) = sql::query_as("SELECT COUNT(*) FROM sessions")
            .fetch_one(s.pool())
            .await
            .unwrap();
        assert_eq!(left, 0, "an expired session is deleted when seen");
    }

    #[tokio::test]
    async fn password_change_and_disable_end_sessions() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::test_db::open(&dir.path().join("db"), StoreOptions::default())
            .await
            .unwrap();
        s.create_user("ada", "password1", Role::Admin)
            .await
            .unwrap();
        let bob = s
            .create_user("bob", "password2", Role::Member)
            .await
            .unwrap();
        let t1 = s.create_session(bob.id).await.unwrap();
        s.set_password("bob", "password3").await.unwrap();
        assert!(s.session_user(&t1).await.unwrap().is_none());
        let t2 = s.create_session(bob.id).await.unwrap();
        s.set_disabled("bob", true).await.unwrap();
        assert!(s.session_user(&t2).await.unwrap().is_none());
    }
}
