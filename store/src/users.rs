//! User accounts and sign-in with throttling.

use crate::db::{now, Store, StoreError};
use crate::password;
use crate::records::{Role, UserInfo};
use crate::sql;
use crate::throttle::ClientAddress;

/// Why a sign-in failed. Wrong user and wrong password read the same on purpose.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("wrong username or password")]
    BadCredentials,
    #[error("too many failed sign-ins from here: try again in {retry_after_secs} s")]
    Throttled { retry_after_secs: i64 },
    #[error(transparent)]
    Busy(#[from] password::Busy),
    #[error(transparent)]
    Store(#[from] StoreError),
}

type UserRow = (i64, String, String, bool, i64);

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
        disabled,
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
        let (n,): (i64,) = sql::query_as("SELECT COUNT(*) FROM users")
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
        let hash = hash_off_runtime(pw).await?;
        let result = sql::query(
            "INSERT INTO users (username, password_hash, role, created_at) VALUES ($1, $2, $3, $4)",
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
        let row: Option<UserRow> = sql::query_as(
            "SELECT id, username, role, disabled, created_at FROM users WHERE lower(username) = lower($1)",
        )
        .bind(username)
        .fetch_optional(self.pool())
        .await?;
        row.map(to_info)
            .unwrap_or_else(|| Err(StoreError::NoSuchUser(username.to_string())))
    }

    /// Every account, by name.
    pub async fn list_users(&self) -> Result<Vec<UserInfo>, StoreError> {
        let rows: Vec<UserRow> = sql::query_as(
            "SELECT id, username, role, disabled, created_at FROM users ORDER BY lower(username)",
        )
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(to_info).collect()
    }

    /// Sets a new password and signs the user out everywhere.
    pub async fn set_password(&self, username: &str, pw: &str) -> Result<(), StoreError> {
        password::check_strength(pw)?;
        let hash = hash_off_runtime(pw).await?;
        let user = self.user(username).await?;
        let mut tx = self.pool().begin().await?;
        sql::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(&hash)
            .bind(user.id)
            .execute(&mut tx)
            .await?;
        sql::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user.id)
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        self.clear_login_throttle(&user.username).await
    }

    /// Changes a user's role. The last enabled admin cannot be demoted.
    pub async fn set_role(&self, username: &str, role: Role) -> Result<UserInfo, StoreError> {
        let user = self.user(username).await?;
        if user.role == Role::Admin && role != Role::Admin {
            self.ensure_other_admin(user.id).await?;
        }
        sql::query("UPDATE users SET role = $1 WHERE id = $2")
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
        sql::query("UPDATE users SET disabled = $1 WHERE id = $2")
            .bind(disabled)
            .bind(user.id)
            .execute(&mut tx)
            .await?;
        if disabled {
            sql::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user.id)
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await?;
        self.user(username).await
    }

    async fn ensure_other_admin(&self, user_id: i64) -> Result<(), StoreError> {
        let (n,): (i64,) = sql::query_as(
            "SELECT COUNT(*) FROM users WHERE role = 'admin' AND NOT disabled AND id != $1",
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

    /// Checks a username and password from `address`. The attempt is counted first (see
    /// [`crate::throttle`]) and refused without a hash while one of its counts must wait; the
    /// hash runs on the blocking pool behind the store's [`password::HashGate`].
    pub async fn verify_login(
        &self,
        username: &str,
        pw: &str,
        address: &ClientAddress,
    ) -> Result<UserInfo, LoginError> {
        let name = username.trim();
        if let Err(t) = self.reserve_login_attempt(name, address).await? {
            return Err(LoginError::Throttled {
                retry_after_secs: t.retry_after_secs,
            });
        }
        let stored: Option<(String, bool)> = sql::query_as(
            "SELECT password_hash, disabled FROM users WHERE lower(username) = lower($1)",
        )
        .bind(name)
        .fetch_optional(self.pool())
        .await
        .map_err(StoreError::from)?;
        // Unknown users cost a hash too, so timing does not reveal which names exist.
        let (hash, enabled) = match stored {
            Some((hash, disabled)) => (hash, !disabled),
            None => (dummy_hash().to_string(), false),
        };
        let pw = pw.to_string();
        let matches = self
            .options
            .hash_gate
            .run(move || password::verify(&pw, &hash))
            .await
            .map_err(LoginError::Busy)?;
        if matches && enabled {
            self.login_succeeded(name, address).await?;
            return Ok(self.user(name).await?);
        }
        Err(LoginError::BadCredentials)
    }
}

/// Hashes `pw` on the blocking pool (account changes are rare, so they skip the sign-in gate).
async fn hash_off_runtime(pw: &str) -> Result<String, StoreError> {
    let pw = pw.to_string();
    tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        .map_err(|e| StoreError::Hash(e.to_string()))?
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
        let s = crate::test_db::open(&dir.path().join("db"), StoreOptions::default())
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
        let here = ClientAddress::of(None);
        s.create_user("ada", "password1", Role::Admin)
            .await
            .unwrap();
        s.create_user("bob", "password2", Role::Member)
            .await
            .unwrap();
        assert_eq!(
            s.verify_login("ada", "password1", &here)
                .await
                .unwrap()
                .username,
            "ada"
        );
        assert!(matches!(
            s.verify_login("ada", "nope", &here).await,
            Err(LoginError::BadCredentials)
        ));
        assert!(matches!(
            s.verify_login("zed", "password1", &here).await,
            Err(LoginError::BadCredentials)
        ));
        s.set_disabled("bob", true).await.unwrap();
        assert!(matches!(
            s.verify_login("bob", "password2", &here).await,
            Err(LoginError::BadCredentials)
        ));
        s.set_disabled("bob", false).await.unwrap();
        assert!(s.verify_login("bob", "password2", &here).await.is_ok());
    }

    fn at(ip: &str) -> ClientAddress {
        ClientAddress::of(Some(ip.parse().unwrap()))
    }

    #[tokio::test]
    async fn a_guesser_slows_only_their_own_address() {
        let (_d, s) = store().await;
        s.create_user("ada", "password1", Role::Admin)
            .await
            .unwrap();
        let (stranger, ada) = (at("203.0.113.9"), at("198.51.100.4"));
        for _ in 0..5 {
            assert!(matches!(
                s.verify_login("ada", "wrong", &stranger).await,
                Err(LoginError::BadCredentials)
            ));
        }
        match s.verify_login("ADA", "password1", &stranger).await {
            Err(LoginError::Throttled { retry_after_secs }) => assert_eq!(retry_after_secs, 1),
            other => panic!("expected throttling, got {other:?}"),
        }
        // The real user, elsewhere, is not kept out.
        assert_eq!(
            s.verify_login("ada", "password1", &ada)
                .await
                .unwrap()
                .username,
            "ada"
        );
        // An admin's password reset lifts the account's delays everywhere.
        s.set_password("ada", "password9").await.unwrap();
        assert!(s.verify_login("ada", "password9", &stranger).await.is_ok());
    }

    #[tokio::test]
    async fn one_address_trying_many_names_is_slowed_too() {
        let (_d, s) = store().await;
        s.create_user("ada", "password1", Role::Admin)
            .await
            .unwrap();
        let stranger = at("203.0.113.9");
        for i in 0..30 {
            let r = s
                .verify_login(&format!("user{i}"), "wrong", &stranger)
                .await;
            assert!(matches!(r, Err(LoginError::BadCredentials)), "{i}: {r:?}");
        }
        assert!(matches!(
            s.verify_login("ada", "password1", &stranger).await,
            Err(LoginError::Throttled { .. })
        ));
        assert!(s
            .verify_login("ada", "password1", &at("198.51.100.4"))
            .await
            .is_ok());
    }

    /// The count used to be read, then written back as read + 1: 300 parallel guesses counted
    /// as a handful, and every one of them got its password checked.
    #[tokio::test]
    async fn parallel_guesses_are_counted_before_any_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let mut options = StoreOptions::default();
        // Long enough that no delay runs out during the test.
        options.throttle.first_delay = std::time::Duration::from_secs(3600);
        options.hash_gate = password::HashGate::new(2, 400);
        let s = crate::test_db::open(&dir.path().join("db"), options)
            .await
            .unwrap();
        s.create_user("ada", "password1", Role::Admin)
            .await
            .unwrap();
        let tasks: Vec<_> = (0..300)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(
                    async move { s.verify_login("ada", "wrong", &at("203.0.113.9")).await },
                )
            })
            .collect();
        let (mut checked, mut throttled) = (0, 0);
        for t in tasks {
            match t.await.unwrap() {
                Err(LoginError::BadCredentials) => checked += 1,
                Err(LoginError::Throttled { .. }) => throttled += 1,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!((checked, throttled), (5, 295));
        let (n,): (i64,) = sql::query_as(
            "SELECT failures FROM login_throttle WHERE username = 'ada' AND address = '203.0.113.9'",
        )
        .fetch_one(s.pool())
        .await
        .unwrap();
        assert_eq!(n, 5);
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
