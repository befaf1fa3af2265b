//! vlm-inspect's own OpenAI-compatible API, end to end over loopback: a running server serves
//! the tiny LLaVA on `/v1`; the same model registered as a remote model of that server gives,
//! in an evaluation with Chain-of-Image (two images per request), the verdicts and replies
//! the model gives run locally. Tokens gate the API.

mod common;

use std::process::Child;

use common::bin::{bin, ok, run, serve, text, tiny_split};

const TOKEN_VAR: &str = "VLM_INSPECT_TEST_V1_TOKEN";

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn predictions(out: &std::path::Path) -> Vec<(String, String, String, String)> {
    let path = std::fs::read_dir(out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut out: Vec<_> = doc["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["rel_path"].as_str().unwrap().to_string(),
                p["prompt"].as_str().unwrap().to_string(),
                p["verdict"].as_str().unwrap().to_string(),
                p["raw"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_remote_model_on_our_own_v1_judges_as_the_local_model_does() {
    let dir = tempfile::tempdir().unwrap();
    let (model, _) = common::tiny_llava_folder(dir.path());
    let (key, d) = tiny_split(dir.path());
    let d = d.as_str();
    ok(&[
        "model",
        "add",
        "tiny-llava",
        model.to_str().unwrap(),
        "--data-dir",
        d,
    ]);
    let added = run(
        &[
            "user",
            "add",
            "mel",
            "--role",
            "member",
            "--password-stdin",
            "--data-dir",
            d,
        ],
        Some("pw-mel-12345\n"),
    );
    assert!(added.status.success(), "{}", text(&added.stderr));
    let created = ok(&[
        "token",
        "create",
        "--user",
        "mel",
        "--label",
        "e2e",
        "--data-dir",
        d,
    ]);
    let token = created.trim_end().lines().last().unwrap().to_string();
    assert!(token.starts_with("vi-"), "{created}");

    let (server, url) = serve(d);
    let _server = Kill(server);
    ok(&[
        "model",
        "add",
        "remote-llava",
        "--openai",
        &format!("{url}/v1"),
        "--remote-model",
        "tiny-llava",
        "--api-key-env",
        TOKEN_VAR,
        "--max-concurrency",
        "2",
        "--data-dir",
        d,
    ]);
    let tested = bin()
        .args(["model", "test", "remote-llava", "--data-dir", d])
        .env(TOKEN_VAR, &token)
        .output()
        .unwrap();
    assert!(tested.status.success(), "{}", text(&tested.stderr));
    assert!(
        text(&tested.stdout).contains("answered in"),
        "{}",
        text(&tested.stdout)
    );

    let eval = |model: &str, out: &std::path::Path| {
        let o = bin()
            .args([
                "eval",
                "--model",
                model,
                "--dataset",
                "tiny",
                "--split",
                &key,
                "--prompts",
                "plain,P1",
                "--limit",
                "3",
                "--max-new-tokens",
                "4",
                "--out",
                out.to_str().unwrap(),
                "--data-dir",
                d,
            ])
            .env(TOKEN_VAR, &token)
            .output()
            .unwrap();
        assert!(o.status.success(), "{model}: {}", text(&o.stderr));
    };
    let (local, remote) = (dir.path().join("local"), dir.path().join("remote"));
    eval(model.to_str().unwrap(), &local);
    eval("remote-llava", &remote);
    let (l, r) = (predictions(&local), predictions(&remote));
    assert_eq!(l.len(), 6, "3 images × 2 prompts");
    assert_eq!(l, r, "the same verdicts and replies through /v1");

    // A wrong token is refused with OpenAI's error shape, and named as such.
    let bad = bin()
        .args(["model", "test", "remote-llava", "--data-dir", d])
        .env(TOKEN_VAR, "vi-not-a-token")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let err = text(&bad.stderr);
    assert!(
        err.contains("401") && err.contains("unknown or was revoked"),
        "{err}"
    );

    // Revoked, the token stops working.
    let list = ok(&["token", "list", "--data-dir", d]);
    let id = list
        .lines()
        .next()
        .unwrap()
        .split('\t')
        .next()
        .unwrap()
        .to_string();
    assert!(ok(&["token", "revoke", &id, "--data-dir", d]).contains("revoked"));
    let revoked = bin()
        .args(["model", "test", "remote-llava", "--data-dir", d])
        .env(TOKEN_VAR, &token)
        .output()
        .unwrap();
    assert!(
        text(&revoked.stderr).contains("401"),
        "{}",
        text(&revoked.stderr)
    );
    let out = run(
        &["token", "create", "--user", "nobody", "--data-dir", d],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
}
