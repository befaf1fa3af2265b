//! User accounts and sign-in with throttling.

use crate::db::{now, Store, StoreError};
use crate::password;
use crate::records::{Role, UserInfo};

/// Why a sign-in failed. Wrong user and wrong password read the same on purpose.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("wrong username or password")]
    BadCredentials,
    #[error("too many failed sign-ins for this user: try again in {retry_after_secs} s")]
    Throttled { retry_after_secs: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

type UserRow = (i64, String, String, i64, i64);

pub(crate) fn to_info(
    (id, username, role, disabled, created_at): UserRow,
) -> Result<UserInfo, StoreError> {
    let role = role
        .parse::<Role>()
        .map_err(|e| StoreError::Invalid(e.to_string()))?;
    Ok(UserInfo {
        id,
        username,
        role,
        disabled: disabled != 0,
        created_at,
    })
}

/// Usernames: 1–64 of letters, digits, '.', '_', '-'.
pub fn check_username(name: &str) -> Result<(), StoreError> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if name.is_empty() || name.len() > 64 || !ok_chars {
        return Err(StoreError::Invalid(format!(
            "invalid username {name:?}: use 1 to 64 letters, digits, '.', '_' or '-'"
        )));
    }
    Ok(())
}

impl Store {
    /// How many accounts exist (0 on a fresh database).
    pub async fn user_count(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
            .fetch_one(self.pool())
            .await?;
        Ok(n)
    }

    /// Adds an account. The password must pass [`password::check_strength`].
    pub async fn create_user(
        &self,
        username: &str,
        pw: &str,
        role: Role,
    ) -> Result<UserInfo, StoreError> {
        check_username(username)?;
        password::check_strength(pw)?;
        let hash = password::hash(pw)?;
        let result = sqlx::query(
            "INSERT INTO users (username, password_hash, role, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(username)
        .bind(&hash)
        .bind(role.as_str())
        .bind(now())
        .execute(self.pool())
        .await;
        match result {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(StoreError::UserExists(username.to_string()))
            }
            Err(e) => Err(e.into()),
            Ok(_) => self.user(username).await,
        }
    }

    /// One account by name (case-insensitive).
    pub async fn user(&self, username: &str) -> Result<UserInfo, StoreError> {
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT id, username, role, disabled, created_at FROM users WHERE username = ?",
        )
        .bind(username)
        .fetch_optional(self.pool())
        .await?;
        row.map(to_info)
            .unwrap_or_else(|| Err(StoreError::NoSuchUser(username.to_string())))
    }

    /// Every account, by name.
    pub async fn list_users(&self) -> Result<Vec<UserInfo>, StoreError> {
        let rows: Vec<UserRow> = sqlx::query_as(
            "SELECT id, username, role, disabled, created_at FROM users ORDER BY username",
        )
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(to_info).collect()
    }

    /// Sets a new password and signs the user out everywhere.
    pub async fn set_password(&self, username: &str, pw: &str) -> Result<(), StoreError> {
        password::check_strength(pw)?;
        let hash = password::hash(pw)?;
        let user = self.user(username).await?;
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
            .bind(&hash)
            .bind(user.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = ?")
            .bind(user.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM login_failures WHERE username = ?")
            .bind(user.username.to_lowercase())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Changes a user's role. The last enabled admin cannot be demoted.
    pub async fn set_role(&self, username: &str, role: Role) -> Result<UserInfo, StoreError> {
        let user = self.user(username).await?;
        if user.role == Role::Admin && role != Role::Admin {
            self.ensure_other_admin(user.id).await?;
        }
        sqlx::query("UPDATE users SET role = ? WHERE id = ?")
            .bind(role.as_str())
            .bind(user.id)
            .execute(self.pool())
            .await?;
        self.user(username).await
    }

    /// Disables or re-enables an account; disabling also ends its sessions.
    /// The last enabled admin cannot be disabled.
    pub async fn set_disabled(
        &self,
        username: &str,
        disabled: bool,
    ) -> Result<UserInfo, StoreError> {
        let user = self.user(username).await?;
        if disabled && user.role == Role::Admin {
            self.ensure_other_admin(user.id).await?;
        }
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE users SET disabled = ? WHERE id = ?")
            .bind(disabled as i64)
            .bind(user.id)
            .execute(&mut *tx)
            .await?;
        if disabled {
            sqlx::query("DELETE FROM sessions WHERE user_id = ?")
                .bind(user.id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.user(username).await
    }

    async fn ensure_other_admin(&self, user_id: i64) -> Result<(), StoreError> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0 AND id != ?",
        )
        .bind(user_id)
        .fetch_one(self.pool())
        .await?;
        if n == 0 {
            return Err(StoreError::Invalid(
                "this is the last enabled admin: make another admin first".into(),
            ));
        }
        Ok(())
    }

    /// Checks a username and password, counting failures per username. After
    /// `max_failures` failures within `lockout`, sign-ins for that name are refused
    /// (even with the right password) until the lock expires.
    pub async fn verify_login(&self, username: &str, pw: &str) -> Result<UserInfo, LoginError> {
        let key = username.trim().to_lowercase();
        let t = now();
        let row: Option<(i64, i64, i64)> = sqlx::query_as(
            "SELECT failures, window_start, locked_until FROM login_failures WHERE username = ?",
        )
        .bind(&key)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::from)?;
        if let Some((_, _, locked_until)) = row {
            if locked_until > t {
                return Err(LoginError::Throttled {
                    retry_after_secs: locked_until - t,
                });
            }
        }

        let stored: Option<(String, i64)> =
            sqlx::query_as("SELECT password_hash, disabled FROM users WHERE username = ?")
                .bind(username.trim())
                .fetch_optional(self.pool())
                .await
                .map_err(StoreError::from)?;
        // Unknown users cost a hash too, so timing does not reveal which names exist.
        let ok = match &stored {
            Some((hash, disabled)) => password::verify(pw, hash) && *disabled == 0,
            None => {
                let _ = password::verify(pw, dummy_hash());
                false
            }
        };
        if ok {
            sqlx::query("DELETE FROM login_failures WHERE username = ?")
                .bind(&key)
                .execute(self.pool())
                .await
                .map_err(StoreError::from)?;
            return Ok(self.user(username.trim()).await?);
        }

        let window = self.options.lockout.as_secs() as i64;
        let (failures, start) = match row {
            Some((f, start, _)) if t - start < window => (f + 1, start),
            _ => (1, t),
        };
        let locked_until = if failures >= self.options.max_failures {
            t + window
        } else {
            0
        };
        sqlx::query(
            "INSERT INTO login_failures (username, failures, window_start, locked_until)
             VALUES (?, ?, ?, ?)
             ON CONFLICT(username) DO UPDATE SET failures = excluded.failures,
                window_start = excluded.window_start, locked_until = excluded.locked_until",
        )
        .bind(&key)
        .bind(failures)
        .bind(start)
        .bind(locked_until)
        .execute(self.pool())
        .await
        .map_err(StoreError::from)?;
        Err(LoginError::BadCredentials)
    }
}

/// A real Argon2id hash, made once, verified against for unknown usernames.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| password::hash(&password::generate()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::StoreOptions;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db"), StoreOptions::default())
            .await
            .unwrap();
        (dir, s)
    }

    #[tokio::test]
    async fn create_list_and_duplicate() {
        let (_d, s) = store().await;
        assert_eq!(s.user_count().await.unwrap(), 0);
        s.create_user("bob", "password1", Role::Member)
            .await
            .unwrap();
        s.create_user("ada", "password2", Role::Admin)
            .await
            .unwrap();
        let names: Vec<_> = s
            .list_users()
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.username)
            .collect();
        assert_eq!(names, ["ada", "bob"]);
        let dup = s
            .create_user("BOB", "password3", Role::Reviewer)
            .await
            .unwrap_err();
        assert!(matches!(dup, StoreError::UserExists(_)), "{dup}");
        assert!(s
            .create_user("bad name", "password4", Role::Member)
            .await
            .is_err());
        assert!(s.create_user("short", "pw", Role::Member).await.is_err());
        assert_eq!(s.user_count().await.unwrap(), 2);
    }

    #[tokio::test]
    async fn login_checks_password_and_disabled() {
        let (_d, s) = store().await;
        s.create_user("ada", "password1", Role::Admin)
            .await
            .unwrap();
        s.create_user("bob", "password2", Role::Member)
            .await
            .unwrap();
        assert_eq!(
            s.verify_login("ada", "password1").await.unwrap().username,
            "ada"
        );
        assert!(matches!(
            s.verify_login("ada", "nope").await,
            Err(LoginError::BadCredentials)
        ));
        assert!(matches!(
            s.verify_login("zed", "password1").await,
            Err(LoginError::BadCredentials)
        ));
        s.set_disabled("bob", true).await.unwrap();
        assert!(matches!(
            s.verify_login("bob", "password2").await,
            Err(LoginError::BadCredentials)
        ));
        s.set_disabled("bob", false).await.unwrap();
        assert!(s.verify_login("bob", "password2").await.is_ok());
    }

    #[tokio::test]
    async fn throttles_after_repeated_failures_even_with_right_password() {
        let (_d, s) = store().await;
        s.create_user("ada", "password1", Role::Admin)
            .await
            .unwrap();
        for _ in 0..5 {
            assert!(matches!(
                s.verify_login("ada", "wrong").await,
                Err(LoginError::BadCredentials)
            ));
        }
        match s.verify_login("ADA", "password1").await {
            Err(LoginError::Throttled { retry_after_secs }) => assert!(retry_after_secs > 0),
            other => panic!("expected throttling, got {other:?}"),
        }
        // An admin's password reset lifts the lock.
        s.set_password("ada", "password9").await.unwrap();
        assert!(s.verify_login("ada", "password9").await.is_ok());
    }

    #[tokio::test]
    async fn last_admin_is_protected() {
        let (_d, s) = store().await;
        s.create_user("ada", "password1", Role::Admin)
            .await
            .unwrap();
        assert!(s.set_role("ada", Role::Member).await.is_err());
        assert!(s.set_disabled("ada", true).await.is_err());
        s.create_user("eve", "password2", Role::Admin)
            .await
            .unwrap();
        assert_eq!(
            s.set_role("ada", Role::Reviewer).await.unwrap().role,
            Role::Reviewer
        );
        assert!(s.set_disabled("eve", true).await.is_err());
        assert!(matches!(
            s.set_role("nobody", Role::Admin).await,
            Err(StoreError::NoSuchUser(_))
        ));
    }
}
