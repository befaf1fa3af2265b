//! When to try a failed request again: exponential backoff with full jitter, or the wait the
//! server asked for in `Retry-After`.

use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The backoff before the second attempt; it doubles after each failure.
    pub base: Duration,
    /// No wait is longer than this, whatever `Retry-After` says.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(500),
            max_wait: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` after `attempt` (1-based) failed: the server's
    /// `Retry-After` when it gave one, else a random time up to `base · 2^(attempt-1)`.
    pub fn wait(&self, attempt: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
        let wait = match retry_after {
            Some(d) => d,
            None => {
                let ceiling = self
                    .base
                    .saturating_mul(1u32 << (attempt.saturating_sub(1)).min(16));
                ceiling.mul_f64(jitter.clamp(0.0, 1.0))
            }
        };
        wait.min(self.max_wait)
    }
}

/// `Retry-After` as seconds (`"2"`, `"0.5"`); an HTTP date is not read (the backoff applies).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_under_its_ceiling_and_retry_after_wins() {
        let p = RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(100),
            max_wait: Duration::from_secs(1),
        };
        assert_eq!(p.wait(1, None, 1.0), Duration::from_millis(100));
        assert_eq!(p.wait(3, None, 1.0), Duration::from_millis(400));
        assert_eq!(p.wait(3, None, 0.5), Duration::from_millis(200));
        assert_eq!(p.wait(9, None, 1.0), Duration::from_secs(1), "capped");
        assert_eq!(
            p.wait(1, Some(Duration::from_millis(700)), 0.0),
            Duration::from_millis(700)
        );
        assert_eq!(
            p.wait(1, Some(Duration::from_secs(90)), 0.0),
            Duration::from_secs(1)
        );
        assert_eq!(parse_retry_after(" 2 "), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("0.25"), Some(Duration::from_millis(250)));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
