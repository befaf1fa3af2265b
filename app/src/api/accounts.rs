//! Server functions: thin wrappers that check the caller's role, validate, and call the store.
//! Each has a fixed URL under `/api` so tests and scripts can reach it.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use store::{DatasetInfo, JobInfo, ModelInfo, TokenInfo, UserInfo};

use crate::ApiError;

#[cfg(feature = "ssr")]
use crate::ssr::{fail, require, require_user, state, store_error};
#[cfg(feature = "ssr")]
use store::Access;

/// What the home page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    pub version: String,
    pub device: String,
    pub models: Vec<ModelInfo>,
    pub datasets: Vec<DatasetInfo>,
    pub jobs: Vec<JobInfo>,
}

/// Signs in; sets the session cookie and returns where to go next.
#[server(prefix = "/api", endpoint = "login")]
pub async fn login(
    username: String,
    password: String,
    next: Option<String>,
) -> Result<String, ApiError> {
    use axum::http::{header::SET_COOKIE, HeaderValue};
    use store::users::LoginError;
    require(Access::Public)?;
    let st = state()?;
    if username.trim().is_empty() || password.is_empty() {
        return Err(fail(ApiError::BadRequest(
            "enter a username and a password".into(),
        )));
    }
    let address = store::throttle::ClientAddress::of(crate::ssr::client_ip());
    let user = match st.store.verify_login(&username, &password, &address).await {
        Ok(u) => u,
        Err(LoginError::BadCredentials) => {
            return Err(fail(ApiError::Unauthorized(
                "wrong username or password".into(),
            )))
        }
        Err(e @ LoginError::Throttled { retry_after_secs }) => {
            crate::ssr::retry_after(retry_after_secs);
            return Err(fail(ApiError::TooManyRequests(e.to_string())));
        }
        Err(e @ LoginError::Busy(_)) => {
            crate::ssr::retry_after(1);
            return Err(fail(ApiError::TooManyRequests(e.to_string())));
        }
        Err(LoginError::Store(e)) => return Err(store_error(e)),
    };
    let token = st
        .store
        .create_session(user.id)
        .await
        .map_err(store_error)?;
    let cookie =
        store::sessions::session_cookie(&token, st.store.session_ttl_secs(), st.secure_cookies());
    if let (Some(res), Ok(v)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        HeaderValue::from_str(&cookie),
    ) {
        res.append_header(SET_COOKIE, v);
    }
    Ok(safe_next(next.as_deref()))
}

/// Only same-origin paths are followed after sign-in (no open redirects). Browsers drop tabs
/// and line breaks from URLs and read `\` as `/`, so `/\t/example.com` would become
/// `//example.com`, another site: a path holding any control character, whitespace or
/// backslash is refused whole rather than cleaned.
pub fn safe_next(next: Option<&str>) -> String {
    let Some(n) = next else {
        return "/".to_string();
    };
    let odd = |c: char| c.is_control() || c.is_whitespace() || c == '\\';
    if n.starts_with('/') && !n.starts_with("//") && !n.chars().any(odd) {
        n.to_string()
    } else {
        "/".to_string()
    }
}

/// Ends the current session and clears the cookie.
#[server(prefix = "/api", endpoint = "logout")]
pub async fn logout() -> Result<(), ApiError> {
    use axum::http::{header::SET_COOKIE, HeaderValue};
    require_user(Access::AnyUser)?;
    let st = state()?;
    if let Some(token) = crate::ssr::session().token {
        st.store.end_session(&token).await.map_err(store_error)?;
    }
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        let clear = store::sessions::clear_session_cookie(st.secure_cookies());
        if let Ok(v) = HeaderValue::from_str(&clear) {
            res.append_header(SET_COOKIE, v);
        }
    }
    Ok(())
}

/// The signed-in user.
#[server(prefix = "/api", endpoint = "me")]
pub async fn me() -> Result<UserInfo, ApiError> {
    require_user(Access::AnyUser)
}

/// Device, models, datasets and recent jobs for the home page.
#[server(prefix = "/api", endpoint = "home")]
pub async fn home_summary() -> Result<Overview, ApiError> {
    let me = require_user(Access::AnyUser)?;
    let st = state()?;
    // Others' inspections are private; server paths of models are for admins.
    let reviewer = me.role == store::Role::Reviewer;
    // Reviewers see the runs shared with them (one query, not one per job).
    let reviewable = if reviewer {
        Some(st.store.reviewable_runs(&me).await.map_err(store_error)?)
    } else {
        None
    };
    let jobs = st
        .store
        .recent_jobs(40)
        .await
        .map_err(store_error)?
        .into_iter()
        .filter(|j| match &reviewable {
            Some(ids) => ids.contains(&j.id),
            None => j.kind != store::JobKind::Inspect || crate::ssr::owns_or_admin(&me, &j.owner),
        })
        .take(20)
        .collect();
    let mut models = if reviewer {
        Vec::new()
    } else {
        st.store.models().await.map_err(store_error)?
    };
    if me.role != store::Role::Admin {
        for m in &mut models {
            m.path.clear();
        }
    }
    let datasets = if reviewer {
        Vec::new()
    } else {
        st.store.datasets().await.map_err(store_error)?
    };
    Ok(Overview {
        version: env!("CARGO_PKG_VERSION").to_string(),
        device: st.device.clone(),
        models,
        datasets,
        jobs,
    })
}

/// Every account (admins only).
#[server(prefix = "/api", endpoint = "admin/users")]
pub async fn list_users() -> Result<Vec<UserInfo>, ApiError> {
    require_user(Access::ADMIN)?;
    state()?.store.list_users().await.map_err(store_error)
}

/// The result of creating an account or resetting a password.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Credentials {
    pub username: String,
    /// Set when the server generated the password; shown to the admin once.
    pub generated_password: Option<String>,
}

/// Adds an account; an empty password makes the server generate one.
#[server(prefix = "/api", endpoint = "admin/add_user")]
pub async fn add_user(
    username: String,
    role: String,
    password: Option<String>,
) -> Result<Credentials, ApiError> {
    require_user(Access::ADMIN)?;
    let role = parse_role(&role)?;
    let given = password.filter(|p| !p.is_empty());
    let pw = given.clone().unwrap_or_else(store::password::generate);
    let user = state()?
        .store
        .create_user(username.trim(), &pw, role)
        .await
        .map_err(store_error)?;
    Ok(Credentials {
        username: user.username,
        generated_password: if given.is_none() { Some(pw) } else { None },
    })
}

/// Changes an account's role.
#[server(prefix = "/api", endpoint = "admin/set_role")]
pub async fn set_user_role(username: String, role: String) -> Result<UserInfo, ApiError> {
    require_user(Access::ADMIN)?;
    let role = parse_role(&role)?;
    state()?
        .store
        .set_role(&username, role)
        .await
        .map_err(store_error)
}

/// Disables or re-enables an account. Admins cannot disable themselves.
#[server(prefix = "/api", endpoint = "admin/set_disabled")]
pub async fn set_user_disabled(username: String, disabled: bool) -> Result<UserInfo, ApiError> {
    let me = require_user(Access::ADMIN)?;
    if disabled && me.username.eq_ignore_ascii_case(&username) {
        return Err(fail(ApiError::BadRequest(
            "you cannot disable your own account".into(),
        )));
    }
    state()?
        .store
        .set_disabled(&username, disabled)
        .await
        .map_err(store_error)
}

/// Gives an account a new generated password (shown once) and ends its sessions.
#[server(prefix = "/api", endpoint = "admin/reset_password")]
pub async fn reset_password(username: String) -> Result<Credentials, ApiError> {
    require_user(Access::ADMIN)?;
    let st = state()?;
    let user = st.store.user(&username).await.map_err(store_error)?;
    let pw = store::password::generate();
    st.store
        .set_password(&user.username, &pw)
        .await
        .map_err(store_error)?;
    Ok(Credentials {
        username: user.username,
        generated_password: Some(pw),
    })
}

#[cfg(feature = "ssr")]
fn parse_role(role: &str) -> Result<store::Role, ApiError> {
    role.parse::<store::Role>()
        .map_err(|e| fail(ApiError::BadRequest(e.to_string())))
}

/// A reactive "is the signed-in user an admin?" for pages that show admin controls (false
/// until the user is known; the server functions check again).
pub fn use_is_admin() -> impl Fn() -> bool + Copy + Send + Sync + 'static {
    let user = Resource::new(|| (), |_| me());
    move || {
        user.get()
            .and_then(Result::ok)
            .is_some_and(|u| u.role == store::Role::Admin)
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_site() {
        assert_eq!(safe_next(Some("/admin/users")), "/admin/users");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil")), "/");
        assert_eq!(safe_next(None), "/");
        // What `/login?next=/%09/example.com` decodes to: browsers drop the tab.
        assert_eq!(safe_next(Some("/\t/example.com")), "/");
        assert_eq!(safe_next(Some("/\n/example.com")), "/");
        assert_eq!(safe_next(Some("/\r\n/example.com")), "/");
        assert_eq!(safe_next(Some("/ /example.com")), "/");
        assert_eq!(safe_next(Some("/\u{a0}/example.com")), "/");
        assert_eq!(safe_next(Some("\t//example.com")), "/");
        assert_eq!(safe_next(Some("/jobs/3?tab=events")), "/jobs/3?tab=events");
    }
}

/// The signed-in user's API tokens.
#[server(prefix = "/api", endpoint = "me/tokens")]
pub async fn my_tokens() -> Result<Vec<TokenInfo>, ApiError> {
    let me = require_user(Access::AnyUser)?;
    state()?
        .store
        .tokens(Some(&me.username))
        .await
        .map_err(store_error)
}

/// A new API token for the signed-in user; its secret, shown once.
#[server(prefix = "/api", endpoint = "me/tokens/create")]
pub async fn create_my_token(label: String) -> Result<String, ApiError> {
    let me = require_user(Access::AnyUser)?;
    let (_, secret) = state()?
        .store
        .create_token(&me.username, &label)
        .await
        .map_err(store_error)?;
    Ok(secret)
}

/// Revokes one of the signed-in user's tokens.
#[server(prefix = "/api", endpoint = "me/tokens/revoke")]
pub async fn revoke_my_token(id: i64) -> Result<(), ApiError> {
    let me = require_user(Access::AnyUser)?;
    let done = state()?
        .store
        .revoke_token(id, Some(&me.username))
        .await
        .map_err(store_error)?;
    if !done {
        return Err(fail(ApiError::NotFound(format!("you have no token {id}"))));
    }
    Ok(())
}
