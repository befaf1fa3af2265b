//! The middleware in front of every route: resolves the session cookie to a user, applies
//! the route's access rule through the shared guard, and limits request bodies.

use app::ssr::{AppState, SessionUser};
use app::ApiError;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use store::sessions::{clear_session_cookie, token_from_cookie_header};
use store::{authorize, Access, Denied};

/// Largest request body accepted, except on the upload route.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// Largest body of an image upload (the image itself is also limited in pixels).
pub const MAX_UPLOAD_BYTES: usize = 20 << 20;
/// Where images are uploaded.
pub const UPLOAD_PATH: &str = "/api/uploads";

/// The body limit of a path.
pub fn body_limit(path: &str) -> usize {
    if path == UPLOAD_PATH || path == "/v1/chat/completions" {
        MAX_UPLOAD_BYTES
    } else {
        MAX_BODY_BYTES
    }
}

/// The access rule of a path. Server functions check their own rule again.
pub fn access_for(path: &str) -> Access {
    const PUBLIC: [&str; 4] = ["/login", "/api/login", "/healthz", "/favicon.ico"];
    // `/v1` authenticates its own way (bearer tokens) and answers in OpenAI's error shape.
    if PUBLIC.contains(&path) || path.starts_with("/pkg/") || path.starts_with("/v1/") {
        Access::Public
    } else if path == "/admin" || path.starts_with("/admin/") || path.starts_with("/api/admin/") {
        Access::ADMIN
    } else {
        Access::AnyUser
    }
}

/// Axum middleware; see the module docs.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut response = check(state, req, next).await;
    add_security_headers(&mut response);
    response
}

/// The policy of responses that set none themselves (pages set theirs with a script nonce,
/// in `app::shell`): nothing runs, nothing frames us.
const BASELINE_CSP: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn add_security_headers(response: &mut Response) {
    let headers = response.headers_mut();
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(BASELINE_CSP),
        );
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

/// Whether a request's method changes state (and so must not come from another site).
fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Where a browser says a request comes from: `Origin`, else `Referer`'s origin. Some("null")
/// and unreadable values count as foreign; None when neither header is sent (not a browser,
/// or one that sends no referrer: such requests carry no ambient credentials of another site
/// anyway, since SameSite=Strict keeps the cookie off cross-site ones).
fn claimed_origin(headers: &axum::http::HeaderMap) -> Option<Option<String>> {
    let value = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))?;
    Some(value.to_str().ok().and_then(app::ssr::origin_of))
}

/// True when a state-changing request plainly comes from another origin than the server's:
/// `--public-url`'s when given, else the one its `Host` header names (any scheme, as a proxy
/// may end TLS). Ports and subdomains of the same host are other origins, though same-site
/// for the cookie.
pub fn cross_origin(headers: &axum::http::HeaderMap, public: Option<&app::ssr::PublicUrl>) -> bool {
    let Some(claimed) = claimed_origin(headers) else {
        return false;
    };
    let Some(claimed) = claimed else {
        return true;
    };
    match public {
        Some(p) => claimed != p.origin(),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_ascii_lowercase);
            let authority = claimed.split_once("://").map(|(_, a)| a.to_string());
            let with_default = |scheme: &str, port: &str| {
                claimed.starts_with(scheme)
                    && host.as_deref().and_then(|h| h.strip_suffix(port)) == authority.as_deref()
            };
            !(host.is_some() && host == authority
                || with_default("http://", ":80")
                || with_default("https://", ":443"))
        }
    }
}

async fn check(state: AppState, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let is_api = path.starts_with("/api/");

    // `/v1` takes bearer tokens, never cookies: another site gains nothing by calling it.
    if changes_state(req.method())
        && !path.starts_with("/v1/")
        && cross_origin(req.headers(), state.public_url.as_ref())
    {
        return error_response(
            StatusCode::FORBIDDEN,
            is_api,
            ApiError::Forbidden(
                "cross-site request refused: send it from this server's own pages".into(),
            ),
        );
    }

    let limit = body_limit(&path);
    let too_big = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .is_some_and(|n| n > limit);
    if too_big {
        let msg = format!("the request body is too large (limit {} KiB)", limit / 1024);
        return error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            is_api,
            ApiError::BadRequest(msg),
        );
    }

    let token = req
        .headers()
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(token_from_cookie_header)
        .map(str::to_string);
    let user = match &token {
        Some(t) => match state.store.session_user(t).await {
            Ok(u) => u,
            Err(e) => {
                tracing::error!("session lookup failed: {e}");
                let err = ApiError::Internal("the database is not answering".into());
                return error_response(StatusCode::SERVICE_UNAVAILABLE, is_api, err);
            }
        },
        None => None,
    };

    // A signed-in user has no business on the login page.
    if path == "/login" && req.method() == Method::GET && user.is_some() {
        return redirect("/");
    }

    let stale_cookie = token.is_some() && user.is_none();
    let response = match authorize(user.as_ref(), access_for(&path)) {
        Ok(()) => {
            req.extensions_mut().insert(SessionUser { user, token });
            next.run(req).await
        }
        Err(Denied::Unauthenticated) if !is_api && req.method() == Method::GET => {
            let wanted = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            redirect(&format!("/login?next={}", super::encode_query_path(wanted)))
        }
        Err(Denied::Unauthenticated) => error_response(
            StatusCode::UNAUTHORIZED,
            is_api,
            ApiError::Unauthorized("sign in first".into()),
        ),
        Err(Denied::Forbidden) => error_response(
            StatusCode::FORBIDDEN,
            is_api,
            ApiError::Forbidden("your role may not do this".into()),
        ),
    };
    if stale_cookie {
        return with_cleared_cookie(response, state.secure_cookies());
    }
    response
}

fn with_cleared_cookie(mut response: Response, secure: bool) -> Response {
    if let Ok(v) = HeaderValue::from_str(&clear_session_cookie(secure)) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

fn redirect(to: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// API callers get the JSON the server-function client decodes; browsers get a small page.
fn error_response(status: StatusCode, is_api: bool, error: ApiError) -> Response {
    if is_api {
        let body = serde_json::to_string(&error).unwrap_or_else(|_| "\"error\"".into());
        return (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    }
    let title = status.canonical_reason().unwrap_or("Error");
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{code} {title}</title>\
         <link rel=\"stylesheet\" href=\"/pkg/vlm-inspect.css\"></head><body><main class=\"page narrow\">\
         <h1>{code} {title}</h1><p>{msg}</p><p><a href=\"/\">Home</a> · <a href=\"/login\">Sign in</a></p>\
         </main></body></html>",
        code = status.as_u16(),
        msg = escape_html(&error.to_string()),
    );
    let mut res = Response::new(Body::from(html));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    res
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_get_the_right_rule() {
        assert_eq!(access_for("/login"), Access::Public);
        assert_eq!(access_for("/pkg/vlm-inspect.wasm"), Access::Public);
        assert_eq!(access_for("/healthz"), Access::Public);
        assert_eq!(access_for("/"), Access::AnyUser);
        assert_eq!(access_for("/api/home"), Access::AnyUser);
        assert_eq!(access_for("/admin/users"), Access::ADMIN);
        assert_eq!(access_for("/api/admin/add_user"), Access::ADMIN);
        assert_eq!(access_for("/administrator"), Access::AnyUser);
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> axum::http::HeaderMap {
        let mut h = axum::http::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn requests_from_other_origins_are_recognised() {
        use header::{HOST, ORIGIN, REFERER};
        let host = (HOST, "inspect.local:3000");
        let same = [
            vec![host.clone(), (ORIGIN, "http://inspect.local:3000")],
            vec![host.clone(), (ORIGIN, "HTTPS://Inspect.Local:3000")],
            vec![
                host.clone(),
                (REFERER, "http://inspect.local:3000/jobs/4?x=1"),
            ],
            vec![
                (HOST, "inspect.local"),
                (ORIGIN, "https://inspect.local:443"),
            ],
            vec![(HOST, "inspect.local:80"), (ORIGIN, "http://inspect.local")],
            // No Origin and no Referer: not a browser's cross-site request.
            vec![host.clone()],
        ];
        for h in same {
            assert!(!cross_origin(&headers(&h), None), "{h:?}");
        }
        let foreign = [
            // Another port and a subdomain of the same host are same-site, not same-origin.
            vec![host.clone(), (ORIGIN, "http://inspect.local:8080")],
            vec![host.clone(), (ORIGIN, "http://evil.inspect.local:3000")],
            vec![host.clone(), (ORIGIN, "null")],
            vec![host.clone(), (ORIGIN, "http://user@inspect.local:3000")],
            vec![
                host.clone(),
                (REFERER, "http://evil.example/inspect.local:3000"),
            ],
            vec![(ORIGIN, "http://inspect.local:3000")],
            // Origin wins over a matching Referer.
            vec![
                host.clone(),
                (ORIGIN, "http://evil.example"),
                (REFERER, "http://inspect.local:3000/"),
            ],
        ];
        for h in foreign {
            assert!(cross_origin(&headers(&h), None), "{h:?}");
        }
        let public = app::ssr::PublicUrl::parse("https://inspect.example.com/").unwrap();
        let behind_proxy = [
            (HOST, "127.0.0.1:3000"),
            (ORIGIN, "https://inspect.example.com"),
        ];
        assert!(!cross_origin(&headers(&behind_proxy), Some(&public)));
        let plain = [
            (HOST, "127.0.0.1:3000"),
            (ORIGIN, "http://inspect.example.com"),
        ];
        assert!(cross_origin(&headers(&plain), Some(&public)));
        assert!(app::ssr::PublicUrl::parse("ftp://x").is_err());
        assert!(public.is_https());
    }

    #[test]
    fn encodes_next_parameter() {
        assert_eq!(
            super::super::encode_query_path("/admin/users?x=1&y=2"),
            "/admin/users%3Fx%3D1%26y%3D2"
        );
        assert_eq!(
            super::super::encode_query_value("a b/é~"),
            "a%20b%2F%C3%A9~"
        );
        assert_eq!(
            escape_html("<a href=\"x\">&"),
            "&lt;a href=&quot;x&quot;&gt;&amp;"
        );
    }
}
