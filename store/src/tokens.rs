//! API tokens for the OpenAI-compatible `/v1` API: random secrets a user's clients send as
//! `Authorization: Bearer …`, with that user's rights; only their SHA-256 is stored. Reviewers
//! hold none (the API runs models, which reviewing does not need).

use crate::sql;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::db::{now, Store, StoreError};
use crate::records::{Role, TokenInfo, UserInfo};
use crate::users::to_info;

/// What every token starts with, so a leaked one is recognisable.
pub const TOKEN_PREFIX: &str = "vi-";

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

type TokenRow = (i64, String, String, i64, Option<i64>);

fn token_info((id, user, label, created_at, last_used_at): TokenRow) -> TokenInfo {
    TokenInfo {
        id,
        user,
        label,
        created_at,
        last_used_at,
    }
}

impl Store {
    /// A new token for `username`; returns it with its secret (shown once, never stored).
    pub async fn create_token(
        &self,
        username: &str,
        label: &str,
    ) -> Result<(TokenInfo, String), StoreError> {
        let user = self.user(username).await?;
        if user.role == Role::Reviewer {
            return Err(StoreError::Invalid(format!(
                "{username} is a reviewer: reviewers may not hold API tokens"
            )));
        }
        let label = label.trim();
        if label.chars().count() > 100 {
            return Err(StoreError::Invalid(
                "a token label has at most 100 characters".into(),
            ));
        }
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let secret = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
        let (id,): (i64,) = sql::query_as(
            "INSERT INTO api_tokens (user_id, label, token_hash, created_at) VALUES ($1, $2, $3, $4)
             RETURNING id",
        )
        .bind(user.id)
        .bind(label)
        .bind(token_hash(&secret))
        .bind(now())
        .fetch_one(self.pool())
        .await?;
        let info = self
            .tokens(None)
            .await?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or_else(|| StoreError::Invalid("the token was not stored".into()))?;
        Ok((info, secret))
    }

    /// Tokens, newest first; only `username`'s when given.
    pub async fn tokens(&self, username: Option<&str>) -> Result<Vec<TokenInfo>, StoreError> {
        let rows: Vec<TokenRow> = sql::query_as(
            "SELECT t.id, u.username, t.label, t.created_at, t.last_used_at
             FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE $1 IS NULL OR lower(u.username) = lower($1) ORDER BY t.id DESC",
        )
        .bind(username)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(token_info).collect())
    }

    /// Revokes token `id` (only `username`'s own when given); false when there is none.
    pub async fn revoke_token(&self, id: i64, username: Option<&str>) -> Result<bool, StoreError> {
        let done = sql::query(
            "DELETE FROM api_tokens WHERE id = $1
               AND ($2 IS NULL OR user_id = (SELECT id FROM users WHERE lower(username) = lower($2)))",
        )
        .bind(id)
        .bind(username)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The enabled, non-reviewer user a bearer token belongs to (None for an unknown token);
    /// records when it was used.
    pub async fn token_user(&self, secret: &str) -> Result<Option<UserInfo>, StoreError> {
        let hash = token_hash(secret);
        let row: Option<(i64, String, String, bool, i64)> = sql::query_as(
            "SELECT u.id, u.username, u.role, u.disabled, u.created_at
             FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_hash = $1 AND NOT u.disabled",
        )
        .bind(&hash)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let user = to_info(row)?;
        if user.role == Role::Reviewer {
            return Ok(None);
        }
        sql::query("UPDATE api_tokens SET last_used_at = $1 WHERE token_hash = $2")
            .bind(now())
            .bind(&hash)
            .execute(self.pool())
            .await?;
        Ok(Some(user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreOptions;

    #[tokio::test]
    async fn tokens_are_hashed_carry_their_user_and_can_be_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::test_db::open(&dir.path().join("db"), StoreOptions::default())
            .await
            .unwrap();
        s.create_user("ada", "pw-ada-1234", Role::Member)
            .await
            .unwrap();
        s.create_user("rex", "pw-rex-1234", Role::Reviewer)
            .await
            .unwrap();
        let (info, secret) = s.create_token("ada", "laptop").await.unwrap();
        assert!(secret.starts_with(TOKEN_PREFIX) && secret.len() == 3 + 64);
        assert_eq!((info.user.as_str(), info.label.as_str()), ("ada", "laptop"));
        let (stored,): (String,) = sql::query_as("SELECT token_hash FROM api_tokens")
            .fetch_one(s.pool())
            .await
            .unwrap();
        assert_ne!(stored, secret);
        assert_eq!(
            s.token_user(&secret).await.unwrap().unwrap().username,
            "ada"
        );
        assert!(s.tokens(Some("ada")).await.unwrap()[0]
            .last_used_at
            .is_some());
        assert!(s.token_user("vi-nope").await.unwrap().is_none());
        let e = s.create_token("rex", "").await.unwrap_err().to_string();
        assert!(e.contains("reviewers may not hold API tokens"), "{e}");
        // A member made reviewer loses the API.
        let (_, other) = s.create_token("ada", "").await.unwrap();
        s.set_role("ada", Role::Reviewer).await.unwrap();
        assert!(s.token_user(&other).await.unwrap().is_none());
        s.set_role("ada", Role::Member).await.unwrap();
        assert!(
            !s.revoke_token(info.id, Some("rex")).await.unwrap(),
            "not rex's"
        );
        assert!(s.revoke_token(info.id, Some("ada")).await.unwrap());
        assert!(s.token_user(&secret).await.unwrap().is_none());
        assert_eq!(s.tokens(None).await.unwrap().len(), 1);
    }
}
