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
    /// A page whose refusal comes from the data it streams: 200, 403 or 404 depending on
    /// whether the status was set before the head went out. The server function behind it
    /// has its own row, which is where the refusal is checked.
    Streamed,
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
/// Team-visible objects: members and admins see them; to a reviewer they are absent unless a
/// run showing them is shared with them for review (not so here: see tests/review.rs).
const TEAM: [Exp; 5] = [SignIn, Hidden, Sees, Sees, Sees];
/// Acting on mel's run: she and admins may, another member is refused, reviewers too.
const RUN_OWNER: [Exp; 5] = [SignIn, Refused, Refused, Pass, Pass];
const PUBLIC: [Exp; 5] = [Pass, Pass, Pass, Pass, Pass];
/// The page of an object a reviewer may not see; everyone else may.
const STREAMED: [Exp; 5] = [SignIn, Streamed, Pass, Pass, Pass];
/// Reviewing a run: members and admins may; a reviewer it is not shared with is refused.
const REVIEW: [Exp; 5] = [SignIn, Refused, Pass, Pass, Pass];

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
        row("GET", "/inspect", "", MEMBER),
        row("GET", "/evaluations", "", ANY),
        row("GET", "/review", "", ANY),
        row("GET", format!("/review/{run}"), "", STREAMED),
        // /api/eval/run and /api/review/item below are where these are refused.
        row("GET", format!("/evaluations/{run}"), "", STREAMED),
        row("GET", "/compare", "", ANY),
        row("GET", "/datasets", "", MEMBER),
        row("GET", "/datasets/tiny", "", MEMBER),
        // /api/drafts/queue below is where reviewers are refused.
        row("GET", "/drafts/999", "", STREAMED),
        row("GET", format!("/images/{image}"), "", TEAM),
        row("GET", "/training", "", MEMBER),
        row("GET", "/models", "", MEMBER),
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
        row("GET", format!("/api/reviews/{run}.csv"), "", TEAM),
        row("GET", format!("/api/reviews/{run}.json"), "", TEAM),
        // Server functions: reading.
        row("POST", "/api/me", "", ANY),
        row("POST", "/api/home", "", ANY),
        row("POST", "/api/admin/users", "", ADMIN),
        row("POST", "/api/me/tokens", "", ANY),
        row("POST", "/api/datasets", "", MEMBER),
        row("POST", "/api/dataset", "name=tiny", MEMBER),
        row(
            "POST",
            "/api/dataset/images",
            "name=tiny&page=1&filter[category]=&filter[split]=&filter[label]=&filter[qa_source]=",
            MEMBER,
        ),
        row("POST", "/api/image", format!("id={image}"), TEAM),
        row("POST", "/api/job", format!("id={run}"), TEAM),
        row("POST", "/api/job", format!("id={inspection}"), OWNED),
        row("POST", "/api/eval/runs", "", ANY),
        row("POST", "/api/eval/run", format!("id={run}"), TEAM),
        row("POST", "/api/eval/compare", format!("ids={run}"), TEAM),
        row("POST", "/api/eval/choices", "", MEMBER),
        row(
            "POST",
            "/api/inspect/one",
            format!("id={inspection}"),
            OWNED,
        ),
        row("POST", "/api/inspect/mine", "", ANY),
        row(
            "POST",
            "/api/inspect/reviews",
            format!("id={inspection}"),
            OWNED,
        ),
        row("POST", "/api/inspect/shared", "", ANY),
        row("POST", "/api/models", "", MEMBER),
        row("POST", "/api/prompts", "", MEMBER),
        row("POST", "/api/training/choices", "", MEMBER),
        row("POST", "/api/training/defaults", "", MEMBER),
        row("POST", "/api/training/runs", "", MEMBER),
        row("POST", "/api/training/run", "id=999", MEMBER),
        // Review: reading.
        row("POST", "/api/review/runs", "", ANY),
        row("POST", "/api/review/item", format!("id={run}&prompt="), REVIEW),
        row("POST", "/api/review/run", format!("id={run}"), REVIEW),
        row("POST", "/api/review/flags", "dataset=tiny", ADMIN),
        // QA drafts: members and admins; reviewers the jobs shared with them (tests/drafts.rs).
        row("POST", "/api/drafts/jobs", "name=tiny", MEMBER),
        row("POST", "/api/drafts/queue", "id=999", REVIEW),
        row("POST", "/api/drafts/shared", "", ANY),
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
        row(
            "POST",
            "/api/inspect/judge",
            format!("id={inspection}&form[verdict]=right&form[explanation]=correct&form[score]=4"),
            OWNED,
        ),
        row("POST", "/api/eval/launch", eval, MEMBER),
        row(
            "POST",
            "/api/drafts/launch",
            "form[model]=no-such-model&form[dataset]=tiny",
            MEMBER,
        ),
        row(
            "POST",
            "/api/drafts/decide",
            "draft=999&version=1&form[action]=accept",
            REVIEW,
        ),
        // Review: acting. Shares name "spare", so later rows meet the same reviewer rights.
        row(
            "POST",
            "/api/review/judge",
            format!("id={run}&image={image}&prompt=plain&form[verdict]=right&form[explanation]=correct&form[score]=4"),
            REVIEW,
        ),
        row(
            "POST",
            "/api/review/settings",
            format!("id={run}&form[judgements]=1&form[overlap_percent]=20&form[order]=random&form[seed]=1"),
            RUN_OWNER,
        ),
        row("POST", "/api/review/share", format!("id={run}&username=spare"), RUN_OWNER),
        row("POST", "/api/review/unshare", format!("id={run}&username=spare"), RUN_OWNER),
        row("POST", "/api/review/promote", "judgement=999", ADMIN),
        row("POST", "/api/eval/cancel", format!("id={run}"), RUN_OWNER),
        row("POST", "/api/eval/resume", format!("id={run}"), RUN_OWNER),
        row("POST", "/api/jobs/cancel", format!("id={run}"), RUN_OWNER),
        row("POST", "/api/jobs/resume", format!("id={run}"), RUN_OWNER),
        // Still queued here, so the owner and the admin get past the guard to "cancel it first".
        row("POST", "/api/eval/delete", format!("id={run}&with_reviews=true"), RUN_OWNER),
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

/// Whether a caller got what its row says; the mismatch, described, when not.
fn check(exp: Exp, who: &str, r: &Row, status: StatusCode, body: &str) -> Result<(), String> {
    let code = status.as_u16();
    let what = format!("{who} {} {}: {status} {body:.300}", r.method, r.path);
    let past_guard = code != 401 && code != 403 && code < 500;
    let (ok, expected) = match exp {
        Pass => (past_guard && code != 303, "to pass"),
        Sees => (past_guard && code != 303 && code != 404, "to see it"),
        Hidden => (code == 404, "it hidden (404)"),
        SignIn if r.method == "GET" && !r.path.starts_with("/api/") => {
            (code == 303, "a sign-in redirect")
        }
        SignIn => (code == 401, "401"),
        Refused => (code == 403, "403"),
        Redirected => (code == 303, "a redirect"),
        NoSuch => (code == 400 && body.contains("no upload"), "no such upload"),
        Streamed => (matches!(code, 200 | 403 | 404), "a page (200, 403 or 404)"),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("expected {expected}: {what}"))
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
            "form[model]=tiny-llava&form[dataset]=tiny&form[split]={split}&form[prompts]=plain&form[max_new_tokens]=4"
        ),
    )
    .await;
    let prompt = post_id(
        "/api/prompts/add",
        "name=mine&text=Anything+wrong%3F".into(),
    )
    .await;
    let (image,): (i64,) = store::sql::query_as("SELECT MIN(id) FROM images")
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
    let mut wrong = Vec::new();
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
            if let Err(e) = check(r.exp[i], who, r, status, &body) {
                wrong.push(e);
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} cell(s) of the matrix are wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );

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
