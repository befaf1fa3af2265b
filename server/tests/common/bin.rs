//! Running the `vlm-inspect` binary from a test.

use std::io::Write;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

/// The binary with the caller's environment less what would point it at another data folder.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vlm-inspect"));
    c.env_remove("VLM_INSPECT_DATA_DIR")
        .env_remove("VLM_INSPECT_ADDR")
        .env_remove("VLM_INSPECT_ADMIN_PASSWORD")
        .env("RUST_LOG", "warn");
    c
}

pub fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs a command that must succeed; its standard output.
pub fn ok(args: &[&str]) -> String {
    let out = run(args, None);
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// Generates a one-category set (2 images per folder, 64 px) under `dir`, imports it as `tiny`
/// into the data folder `dir/data` and makes a split (seed 1, half the anomalies); returns the
/// split key and the data folder.
pub fn tiny_split(dir: &std::path::Path) -> (String, String) {
    let src = dir.join("synth");
    let src = src.to_str().unwrap();
    let data = dir.join("data").to_str().unwrap().to_string();
    let data = data.as_str();
    ok(&[
        "dataset",
        "synth",
        "--out",
        src,
        "--per-category",
        "2",
        "--size",
        "64",
        "--categories",
        "pushpins",
    ]);
    ok(&[
        "dataset",
        "import",
        "--loco",
        src,
        "--name",
        "tiny",
        "--data-dir",
        data,
    ]);
    let split = ok(&[
        "dataset",
        "split",
        "tiny",
        "--seed",
        "1",
        "--fraction",
        "0.5",
        "--data-dir",
        data,
    ]);
    (
        split.split(':').next().unwrap().to_string(),
        data.to_string(),
    )
}

/// `serve` on `data` without the embedded models (their files are pointed elsewhere), so it
/// starts in a moment; returns it once it listens, with its base URL.
pub fn serve(data: &str) -> (Child, String) {
    let mut child = bin()
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir", data])
        .env("VLM_INSPECT_SMOLLM2_GGUF", "/nonexistent/smollm2.gguf")
        .env("VLM_INSPECT_DEFAULT_MODEL", "/nonexistent/default")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("the server printed its address")
            .unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.trim().to_string();
        }
    };
    // Keep reading so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, url)
}
