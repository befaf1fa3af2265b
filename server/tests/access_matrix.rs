//! The role and ownership matrix: every route and server function × anonymous, reviewer, member
//! (the owner of the objects), another member, admin — allowed or refused as documented in
//! docs/reliability.md. A server function registered without a row fails the test.

mod common;

use std::collections::BTreeSet;

use axum::http::StatusCode;

/// What one caller must get.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Exp {
    /// Past the guard: anything but 401/403 and 5xx (a 4xx about the input is fine).
    Pass,
    /// Past the guard and shown the object: as `Pass`, and not 404.
    Sees,
    /// The object is hidden: 404, as if it did not exist.
    Hidden,
    /// 401 (under /api) or a redirect to sign in (pages and files).
    SignIn,
    /// 403.
    Refused,
    /// 303 elsewhere (the login page, signed in, sends you home).
    Redirected,
    /// 400 saying the form names nothing there (another's upload, as a missing one).
    NoSuch,
}
use Exp::*;

/// Callers, in the order of each row's expectations.
/// Another member comes before the owner, so the owner's own deletions and cancellations come
/// after the others were refused.
const CALLERS: [&str; 5] = ["anonymous", "rex", "target", "mel", "ada"];

/// Everyone signed in may.
const ANY: [Exp; 5] = [SignIn, Pass, Pass, Pass, Pass];
/// Members and admins may; reviewers may not.
const MEMBER: [Exp; 5] = [SignIn, Refused, Pass, Pass, Pass];
/// Admins only.
const ADMIN: [Exp; 5] = [SignIn, Refused, Refused, Refused, Pass];
/// Mel's object: she and admins see it, everyone else signed in is told it does not exist.
const OWNED: [Exp; 5] = [SignIn, Hidden, Hidden, Sees, Sees];
/// Using mel's upload in a form: reviewers may not inspect at all; for another member the
/// upload does not exist.
const OWNED_INPUT: [Exp; 5] = [SignIn, Refused, NoSuch, Sees, Sees];
/// Team-visible objects: anyone signed in sees them.
const TEAM: [Exp; 5] = [SignIn, Sees, Sees, Sees, Sees];
/// Acting on mel's run: she and admins may, another member is refused, reviewers too.
const RUN_OWNER: [Exp; 5] = [SignIn, Refused, Refused, Pass, Pass];
const PUBLIC: [Exp; 5] = [Pass, Pass, Pass, Pass, Pass];

struct Row {
    method: &'static str,
    path: String,
    body: String,
    exp: [Exp; 5],
}

fn row(
    method: &'static str,
    path: impl Into<String>,
    body: impl Into<String>,
    exp: [Exp; 5],
) -> Row {
    Row {
        method,
        path: path.into(),
        body: body.into(),
        exp,
    }
}

/// The objects the rows name: mel's upload, inspection, evaluation run and prompt.
struct Objects {
    upload: i64,
    inspection: i64,
    run: i64,
    prompt: i64,
    image: i64,
    split: String,
}

fn rows(o: &Objects) -> Vec<Row> {
    let Objects {
        upload,
        inspection,
        run,
        prompt,
        image,
        split,
    } = o;
    let eval = format!("form[model]=tiny-llava&form[dataset]=tiny&form[split]={split}&form[prompts]=plain&form[limit]=1");
    vec![
        // Pages.
        row("GET", "/", "", ANY),
        row("GET", "/inspect", "", ANY),
        row("GET", "/evaluations", "", ANY),
        row("GET", format!("/evaluations/{run}"), "", ANY),
        row("GET", "/compare", "", ANY),
        row("GET", "/datasets", "", ANY),
        row("GET", "/datasets/tiny", "", ANY),
        row("GET", format!("/images/{image}"), "", ANY),
        row("GET", "/training", "", ANY),
        row("GET", "/models", "", ANY),
        row("GET", "/account", "", ANY),
        row("GET", "/admin/users", "", ADMIN),
        row("GET", "/healthz", "", PUBLIC),
        row(
            "GET",
            "/login",
            "",
            [Pass, Redirected, Redirected, Redirected, Redirected],
        ),
        // Files, streams and downloads.
        row("GET", format!("/files/images/{image}"), "", TEAM),
        row("GET", format!("/files/thumbs/{image}"), "", TEAM),
        row("GET", format!("/files/uploads/{upload}"), "", OWNED),
        row("GET", format!("/api/jobs/{inspection}/events"), "", OWNED),
        row("GET", format!("/api/jobs/{run}/events"), "", TEAM),
        row("GET", format!("/api/evaluations/{run}.csv"), "", TEAM),
        row("GET", format!("/api/evaluations/{run}.json"), "", TEAM),
        // Server functions: reading.
        row("POST", "/api/me", "", ANY),
        row("POST", "/api/home", "", ANY),
        row("POST", "/api/admin/users", "", ADMIN),
        row("POST", "/api/me/tokens", "", ANY),
        row("POST", "/api/datasets", "", ANY),
        row("POST", "/api/dataset", "name=tiny", TEAM),
        row(
            "POST",
            "/api/dataset/images",
            "name=tiny&page=1&filter[category]=&filter[split]=&filter[label]=&filter[qa_source]=",
            TEAM,
        ),
        row("POST", "/api/image", format!("id={image}"), TEAM),
        row("POST", "/api/job", format!("id={run}"), TEAM),
        row("POST", "/api/job", format!("id={inspection}"), OWNED),
        row("POST", "/api/eval/runs", "", ANY),
        row("POST", "/api/eval/run", format!("id={run}"), TEAM),
        row("POST", "/api/eval/compare", format!("ids={run}"), TEAM),
        row("POST", "/api/eval/choices", "", ANY),
        row(
            "POST",
            "/api/inspect/one",
            format!("id={inspection}"),
            OWNED,
        ),
        row("POST", "/api/inspect/mine", "", ANY),
        row("POST", "/api/models", "", ANY),
        row("POST", "/api/prompts", "", ANY),
        row("POST", "/api/training/choices", "", ANY),
        row("POST", "/api/training/defaults", "", ANY),
        row("POST", "/api/training/runs", "", ANY),
        row("POST", "/api/training/run", "id=999", ANY),
        // Server functions: acting.
        row(
            "POST",
            "/api/inspect/start",
            format!("form[model]=tiny-llava&form[prompt]=plain&form[upload]={upload}"),
            OWNED_INPUT,
        ),
        row(
            "POST",
            "/api/inspect/share",
            format!("id={inspection}&username=ada&share=true"),
            OWNED,
        ),
        row("POST", "/api/eval/launch", eval, MEMBER),
        row("POST", "/api/eval/cancel", format!("id={run}"), RUN_OWNER),
        row("POST", "/api/eval/resume", format!("id={run}"), RUN_OWNER),
        row("POST", "/api/jobs/cancel", format!("id={run}"), RUN_OWNER),
        row("POST", "/api/jobs/resume", format!("id={run}"), RUN_OWNER),
        row(
            "POST",
            "/api/prompts/add",
            "name=p-matrix&text=Is+it+normal%3F",
            MEMBER,
        ),
        row(
            "POST",
            "/api/prompts/delete",
            format!("id={prompt}"),
            RUN_OWNER,
        ),
        row("POST", "/api/me/tokens/create", "label=matrix", ANY),
        row("POST", "/api/me/tokens/revoke", "id=999", ANY),
        row(
            "POST",
            "/api/admin/add_user",
            "username=matrix-new&role=member&password=password123",
            ADMIN,
        ),
        row(
            "POST",
            "/api/admin/set_role",
            "username=spare&role=member",
            ADMIN,
        ),
        row(
            "POST",
            "/api/admin/set_disabled",
            "username=spare&disabled=false",
            ADMIN,
        ),
        row("POST", "/api/admin/reset_password", "username=spare", ADMIN),
        row(
            "POST",
            "/api/admin/datasets/import",
            "form[source]=/nonexistent&form[layout]=loco&form[qa_file]=&form[name]=x",
            ADMIN,
        ),
        row(
            "POST",
            "/api/admin/datasets/delete",
            "name=no-such-set",
            ADMIN,
        ),
        row(
            "POST",
            "/api/admin/models/remote",
            "form[name]=&form[base_url]=",
            ADMIN,
        ),
        row(
            "POST",
            "/api/admin/models/test",
            "name=no-such-model",
            ADMIN,
        ),
        row(
            "POST",
            "/api/admin/models/remove",
            "name=no-such-model",
            ADMIN,
        ),
        row(
            "POST",
            "/api/admin/training/launch",
            "form[base_model]=",
            ADMIN,
        ),
        row("POST", "/api/admin/training/cancel", "id=999", ADMIN),
        row("POST", "/api/admin/training/resume", "id=999", ADMIN),
        // Public: a wrong password is a 401 for anyone, signed in or not.
        row(
            "POST",
            "/api/login",
            "username=nobody&password=wrong-guess",
            [SignIn; 5],
        ),
        // Last: it ends the session.
        row("POST", "/api/logout", "", ANY),
    ]
}

fn check(exp: Exp, who: &str, r: &Row, status: StatusCode, body: &str) {
    let code = status.as_u16();
    let what = format!("{who} {} {}: {status} {body:.300}", r.method, r.path);
    let past_guard = code != 401 && code != 403 && code < 500;
    match exp {
        Pass => assert!(past_guard && code != 303, "expected to pass: {what}"),
        Sees => assert!(
            past_guard && code != 303 && code != 404,
            "expected to see it: {what}"
        ),
        Hidden => assert_eq!(code, 404, "expected it hidden: {what}"),
        SignIn if r.method == "GET" && !r.path.starts_with("/api/") => {
            assert_eq!(code, 303, "expected a sign-in redirect: {what}")
        }
        SignIn => assert_eq!(code, 401, "expected 401: {what}"),
        Refused => assert_eq!(code, 403, "expected 403: {what}"),
        Redirected => assert_eq!(code, 303, "expected a redirect: {what}"),
        NoSuch => assert!(
            code == 400 && body.contains("no upload"),
            "expected no such upload: {what}"
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_and_server_function_checks_role_and_owner() {
    // No job lanes: queued jobs stay queued, so every row meets the same state.
    let (app, split) = common::tiny_app().await;
    app.store
        .create_user("spare", common::PASSWORD, store::Role::Member)
        .await
        .unwrap();
    let mut cookies = vec![None];
    for who in &CALLERS[1..] {
        cookies.push(Some(app.login(who).await));
    }
    let mel = cookies[3].clone().unwrap();
    let mut png = Vec::new();
    image::RgbImage::new(32, 32)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let (_, body, _) = common::upload(&app, &mel, "m.png", &png, "").await;
    let upload = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"]
        .as_i64()
        .unwrap();
    let post_id = |path: &'static str, form: String| {
        let (app, mel) = (&app, mel.clone());
        async move {
            let (status, body, _) = app.post(path, &form, Some(&mel)).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            body.trim().parse::<i64>().unwrap()
        }
    };
    let inspection = post_id(
        "/api/inspect/start",
        format!("form[model]=tiny-llava&form[prompt]=plain&form[upload]={upload}"),
    )
    .await;
    let run = post_id(
        "/api/eval/launch",
        format!(
            "form[model]=tiny-llava&form[dataset]=tiny&form[split]={split}&form[prompts]=plain"
        ),
    )
    .await;
    let prompt = post_id(
        "/api/prompts/add",
        "name=mine&text=Anything+wrong%3F".into(),
    )
    .await;
    let (image,): (i64,) = sqlx::query_as("SELECT MIN(id) FROM images")
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    let objects = Objects {
        upload,
        inspection,
        run,
        prompt,
        image,
        split,
    };

    let table = rows(&objects);
    for r in &table {
        for (i, who) in CALLERS.iter().enumerate() {
            let cookie = cookies[i].as_deref();
            let (status, body, _) = if r.path.ends_with("/events") {
                // A live job's stream never ends: the status is all there is to read.
                let mut req = axum::http::Request::get(&r.path);
                if let Some(c) = cookie {
                    req = req.header(axum::http::header::COOKIE, c);
                }
                let res = app.send(req.body(axum::body::Body::empty()).unwrap()).await;
                (res.status(), String::new(), ())
            } else if r.method == "GET" {
                let (s, b, _) = app.get(&r.path, cookie).await;
                (s, b, ())
            } else {
                let (s, b, _) = app.post(&r.path, &r.body, cookie).await;
                (s, b, ())
            };
            check(r.exp[i], who, r, status, &body);
        }
    }

    // Every registered server function has a row.
    let covered: BTreeSet<&str> = table.iter().map(|r| r.path.as_str()).collect();
    let registered: Vec<&str> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path)
        .collect();
    assert!(registered.len() >= 46, "{registered:?}");
    let missing: Vec<&&str> = registered
        .iter()
        .filter(|p| !covered.contains(*p))
        .collect();
    assert!(
        missing.is_empty(),
        "server functions without a row in the matrix: {missing:?}"
    );
}
