//! Sign-in throttling: failed attempts are counted per (username, client address) and per client
//! address, and each count past its free allowance makes the next attempt wait longer (1 s,
//! 2 s, 4 s, … up to 15 min). A stranger guessing from elsewhere therefore slows only their own
//! address down, never the real user's (OWASP ASVS V2.2.1). Attempts are counted *before* the
//! password is checked, in one write transaction, so parallel guesses cannot slip past the
//! count.

use crate::sql;
use std::net::IpAddr;
use std::time::Duration;

use crate::db::{Store, StoreError};

/// How sign-in attempts are throttled; the defaults are the server's.
#[derive(Clone, Debug)]
pub struct ThrottlePolicy {
    /// Failed attempts for one username from one address before delays start.
    pub free_per_account: i64,
    /// Failed attempts from one address (any usernames) before delays start.
    pub free_per_address: i64,
    /// The wait after the first attempt past an allowance; each further one doubles it.
    pub first_delay: Duration,
    /// The longest wait.
    pub max_delay: Duration,
    /// A count with no attempt for this long is forgotten (and its row deleted).
    pub forget_after: Duration,
    /// The most rows kept; past it the oldest are deleted first.
    pub max_rows: i64,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            free_per_account: 5,
            free_per_address: 30,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(24 * 3600),
            max_rows: 100_000,
        }
    }
}

impl ThrottlePolicy {
    /// How long after the last counted attempt the next one may come, when `failures` have
    /// been counted against an allowance of `free`.
    pub fn wait_after(&self, failures: i64, free: i64) -> Duration {
        let past = failures - free;
        if past < 0 {
            return Duration::ZERO;
        }
        // 2^past, capped before it can overflow.
        let factor = 1u32 << past.clamp(0, 30) as u32;
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// The address a sign-in came from, as throttling counts it: IPv4 addresses whole, IPv6 by
/// their /64 prefix (one host usually holds a whole /64), unknown ones as one shared address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientAddress(String);

impl ClientAddress {
    /// The address of `ip`, or the shared "unknown" one.
    pub fn of(ip: Option<IpAddr>) -> Self {
        let text = match ip.map(|ip| ip.to_canonical()) {
            Some(IpAddr::V4(v4)) => v4.to_string(),
            Some(IpAddr::V6(v6)) => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
            None => "unknown".to_string(),
        };
        Self(text)
    }

    /// The text stored and logged.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A sign-in attempt refused before its password was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// Whole seconds until an attempt may come again (at least 1).
    pub retry_after_secs: i64,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Store {
    /// Counts an attempt to sign in as `username` from `address`, or refuses it when one of its
    /// counts must still wait. Call before checking the password; on success call
    /// [`Store::login_succeeded`].
    pub async fn reserve_login_attempt(
        &self,
        username: &str,
        address: &ClientAddress,
    ) -> Result<Result<(), Throttled>, StoreError> {
        let policy = &self.options.throttle;
        let name = username.trim().to_lowercase();
        let t = now_ms();
        let forget = policy.forget_after.as_millis() as i64;
        let counts = [
            (name.as_str(), policy.free_per_account),
            ("", policy.free_per_address),
        ];
        // IMMEDIATE takes the write lock at once, so the read and the increment are one step.
        let mut tx = self.pool().begin_immediate().await?;
        let mut wait_ms = 0i64;
        let mut next = Vec::with_capacity(counts.len());
        for (user, free) in counts {
            let row: Option<(i64, i64)> = sql::query_as(
                "SELECT failures, last_failure FROM login_throttle WHERE username = $1 AND address = $2",
            )
            .bind(user)
            .bind(address.as_str())
            .fetch_optional(&mut tx)
            .await?;
            let failures = match row {
                Some((f, last)) if t - last < forget => {
                    let ready = last + policy.wait_after(f, free).as_millis() as i64;
                    wait_ms = wait_ms.max(ready - t);
                    f
                }
                _ => 0,
            };
            next.push((user, failures + 1));
        }
        if wait_ms > 0 {
            tx.rollback().await?;
            return Ok(Err(Throttled {
                retry_after_secs: (wait_ms + 999) / 1000,
            }));
        }
        for (user, failures) in next {
            sql::query(
                "INSERT INTO login_throttle (username, address, failures, last_failure)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT(username, address) DO UPDATE SET failures = excluded.failures,
                    last_failure = excluded.last_failure",
            )
            .bind(user)
            .bind(address.as_str())
            .bind(failures)
            .bind(t)
            .execute(&mut tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// A reserved attempt had the right password: the account's count from that address is
    /// cleared and the address's count gives the attempt back.
    pub async fn login_succeeded(
        &self,
        username: &str,
        address: &ClientAddress,
    ) -> Result<(), StoreError> {
        let name = username.trim().to_lowercase();
        let mut tx = self.pool().begin().await?;
        sql::query("DELETE FROM login_throttle WHERE username = $1 AND address = $2")
            .bind(&name)
            .bind(address.as_str())
            .execute(&mut tx)
            .await?;
        sql::query(
            "UPDATE login_throttle SET failures = CASE WHEN failures > 0 THEN failures - 1 ELSE 0 END
             WHERE username = '' AND address = $1",
        )
        .bind(address.as_str())
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Clears every count of `username` (an admin's password reset lifts its delays).
    pub async fn clear_login_throttle(&self, username: &str) -> Result<(), StoreError> {
        sql::query("DELETE FROM login_throttle WHERE username = $1")
            .bind(username.trim().to_lowercase())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Deletes counts older than the policy's `forget_after` and, past `max_rows`, the oldest;
    /// returns how many rows went.
    pub async fn purge_login_throttle(&self) -> Result<u64, StoreError> {
        let policy = &self.options.throttle;
        let cutoff = now_ms() - policy.forget_after.as_millis() as i64;
        let old = sql::query("DELETE FROM login_throttle WHERE last_failure < $1")
            .bind(cutoff)
            .execute(self.pool())
            .await?
            .rows_affected();
        let over = sql::query(
            // "All rows after the first max_rows": no LIMIT that both engines read as "none".
            "DELETE FROM login_throttle WHERE (username, address) IN (
                SELECT username, address FROM login_throttle
                ORDER BY last_failure DESC LIMIT 9223372036854775807 OFFSET $1)",
        )
        .bind(policy.max_rows)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(old + over)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::StoreOptions;

    #[test]
    fn delays_double_from_the_allowance_up_to_the_cap() {
        let p = ThrottlePolicy::default();
        assert_eq!(p.wait_after(4, 5), Duration::ZERO);
        assert_eq!(p.wait_after(5, 5), Duration::from_secs(1));
        assert_eq!(p.wait_after(6, 5), Duration::from_secs(2));
        assert_eq!(p.wait_after(9, 5), Duration::from_secs(16));
        assert_eq!(p.wait_after(15, 5), Duration::from_secs(900));
        assert_eq!(p.wait_after(i64::MAX, 5), Duration::from_secs(900));
    }

    #[test]
    fn addresses_are_grouped_as_documented() {
        let v6: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        let v6b: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        assert_eq!(ClientAddress::of(Some(v6)), ClientAddress::of(Some(v6b)));
        assert_eq!(ClientAddress::of(Some(v6)).as_str(), "2001:db8:1:2::/64");
        let mapped: IpAddr = "::ffff:10.0.0.7".parse().unwrap();
        assert_eq!(ClientAddress::of(Some(mapped)).as_str(), "10.0.0.7");
        assert_eq!(ClientAddress::of(None).as_str(), "unknown");
    }

    #[tokio::test]
    async fn rows_past_the_cap_and_old_rows_are_purged() {
        let dir = tempfile::tempdir().unwrap();
        let mut options = StoreOptions::default();
        options.throttle.max_rows = 3;
        let s = crate::test_db::open(&dir.path().join("db"), options)
            .await
            .unwrap();
        let here = ClientAddress::of(Some("10.0.0.1".parse().unwrap()));
        for name in ["a", "b", "c", "d"] {
            s.reserve_login_attempt(name, &here).await.unwrap().unwrap();
        }
        sql::query("UPDATE login_throttle SET last_failure = 0 WHERE username = 'a'")
            .execute(s.pool())
            .await
            .unwrap();
        // 5 rows (4 accounts + the address): 'a' is too old, one more is over the cap.
        assert_eq!(s.purge_login_throttle().await.unwrap(), 2);
        let (n,): (i64,) = sql::query_as("SELECT COUNT(*) FROM login_throttle")
            .fetch_one(s.pool())
            .await
            .unwrap();
        assert_eq!(n, 3);
    }
}
