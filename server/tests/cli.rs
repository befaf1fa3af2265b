//! The `vlm-inspect` binary: user commands, first start, and start-up failures.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::bin::{bin, ok, run, text, tiny_split};

#[test]
fn user_add_list_passwd() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = run(
        &["user", "add", "kim", "--role", "reviewer", "--data-dir", d],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("created kim (reviewer)") && stdout.contains("password: "),
        "{stdout}"
    );

    let out = run(
        &["user", "add", "lee", "--password-stdin", "--data-dir", d],
        Some("s3cret-pass\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stdout).contains("password:"),
        "a given password is not echoed"
    );

    let out = run(&["user", "list", "--data-dir", d], None);
    let listing = text(&out.stdout);
    assert!(
        listing.contains("kim") && listing.contains("reviewer"),
        "{listing}"
    );
    assert!(
        listing.contains("lee") && listing.contains("member"),
        "{listing}"
    );

    let out = run(&["user", "add", "kim", "--data-dir", d], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("exists already"),
        "{}",
        text(&out.stderr)
    );

    let out = run(
        &["user", "passwd", "lee", "--password-stdin", "--data-dir", d],
        Some("another-pass\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&["user", "passwd", "nobody", "--data-dir", d], None);
    assert!(
        text(&out.stderr).contains("no user named"),
        "{}",
        text(&out.stderr)
    );

    let out = run(
        &["user", "add", "max", "--role", "owner", "--data-dir", d],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("unknown role"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn data_dir_comes_from_the_environment_too() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["user", "add", "env-user"])
        .env("VLM_INSPECT_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.path().join("vlm-inspect.db").is_file());
}

#[test]
fn corrupt_database_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("vlm-inspect.db"), vec![7u8; 4096]).unwrap();
    let out = run(
        &["user", "list", "--data-dir", dir.path().to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("error: cannot open database") && err.contains("not an SQLite database"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        &[
            "serve",
            "--addr",
            &addr,
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("cannot listen on {addr}")) && err.contains("in use"),
        "{err}"
    );
}

/// Starts `serve`, collects stdout up to and including the "listening on" line, then stops it.
fn serve_until_listening(cmd: &mut Command) -> Vec<String> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let done = line.contains("listening on ");
        lines.push(line);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    lines
}

#[test]
fn first_start_creates_an_admin_imports_the_demo_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let seen = serve_until_listening(bin().args(["--addr", "127.0.0.1:0", "--data-dir", d]));
    let admin_line = seen
        .iter()
        .find(|l| l.contains("first admin"))
        .expect("the admin is announced");
    assert!(
        admin_line.contains("username admin, password "),
        "{admin_line}"
    );
    assert!(
        seen.iter()
            .any(|l| l.contains("imported the demo dataset \"loco-synth\": 220 images")),
        "{seen:?}"
    );
    let url = seen
        .last()
        .and_then(|l| l.split("listening on ").nth(1))
        .expect("a URL");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    // A second start creates nothing and prints no password.
    let again =
        serve_until_listening(bin().args(["serve", "--addr", "127.0.0.1:0", "--data-dir", d]));
    assert!(
        !again
            .iter()
            .any(|l| l.contains("first admin") || l.contains("demo")),
        "{again:?}"
    );
    let out = run(&["user", "list", "--data-dir", d], None);
    assert_eq!(
        text(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("admin "))
            .count(),
        1
    );
}

#[test]
fn admin_password_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let seen = serve_until_listening(
        bin()
            .args([
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--data-dir",
                dir.path().to_str().unwrap(),
            ])
            .env("VLM_INSPECT_ADMIN_PASSWORD", "from-the-env-1"),
    );
    let all = seen.join("\n");
    assert!(
        all.contains("VLM_INSPECT_ADMIN_PASSWORD") && !all.contains("from-the-env-1"),
        "{all}"
    );
}

#[test]
fn unknown_device_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        &[
            "--addr",
            "127.0.0.1:0",
            "--device",
            "tpu",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("unknown device"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn dataset_commands() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("synth");
    let d = dir.path().join("data");
    let (src_s, d_s) = (src.to_str().unwrap(), d.to_str().unwrap());
    let out = run(
        &[
            "dataset",
            "synth",
            "--out",
            src_s,
            "--seed",
            "3",
            "--per-category",
            "2",
            "--size",
            "64",
            "--categories",
            "pushpins,screw_bag",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("generated 20 images"),
        "{}",
        text(&out.stdout)
    );

    let out = run(
        &[
            "dataset",
            "import",
            "--loco",
            src_s,
            "--name",
            "tiny",
            "--data-dir",
            d_s,
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("imported \"tiny\": 20 images, 40 QA"),
        "{}",
        text(&out.stdout)
    );

    let out = run(&["dataset", "list", "--data-dir", d_s], None);
    assert!(text(&out.stdout).contains("tiny"));
    let out = run(&["dataset", "stats", "tiny", "--data-dir", d_s], None);
    let stats = text(&out.stdout);
    assert!(
        stats.contains("QA manual: 20") && stats.contains("screw_bag"),
        "{stats}"
    );
    let out = run(
        &[
            "dataset",
            "split",
            "tiny",
            "--seed",
            "1",
            "--fraction",
            "0.5",
            "--data-dir",
            d_s,
        ],
        None,
    );
    assert!(
        text(&out.stdout).starts_with("split-1-0.5-"),
        "{}",
        text(&out.stdout)
    );
    let out = run(&["dataset", "export-qa", "tiny", "--data-dir", d_s], None);
    assert_eq!(text(&out.stdout).lines().count(), 40);

    let out = run(
        &[
            "dataset",
            "import",
            "--loco",
            dir.path().join("nope").to_str().unwrap(),
            "--data-dir",
            d_s,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("missing folder"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["dataset", "stats", "ghost", "--data-dir", d_s], None);
    assert!(
        text(&out.stderr).contains("no dataset named"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["dataset", "delete", "tiny", "--data-dir", d_s], None);
    assert!(out.status.success());
}

/// `forward` on a LLaVA folder: two prompts, three images, logits as transformers gives them;
/// an image count that does not match the prompt is a clear error.
#[test]
fn forward_runs_llava_with_pixel_values() {
    use vlm::weights::safetensors::{read_i64, write, SafeTensors};
    use vlm::weights::TensorSource;
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../vlm/tests/fixtures");
    let model = format!("{fixtures}/tiny-llava");
    let mut io =
        SafeTensors::open(&std::path::Path::new(fixtures).join("llava-io.safetensors")).unwrap();
    let (shape, ids) = read_i64(&mut io, "input_ids").unwrap().unwrap();
    let (_, mask) = read_i64(&mut io, "attention_mask").unwrap().unwrap();
    let pixels = io.read("pixel_values").unwrap().unwrap();
    let expected = io.read("logits").unwrap().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("in.safetensors");
    let out = dir.path().join("out.safetensors");
    let fwd = |inputs: &std::path::Path| {
        run(
            &[
                "forward",
                "--model",
                &model,
                "--inputs",
                inputs.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            None,
        )
    };
    write(
        &inputs,
        &[("pixel_values", &pixels.shape, &pixels.data)],
        &[
            ("input_ids", &shape, &ids),
            ("attention_mask", &shape, &mask),
        ],
    )
    .unwrap();
    let res = fwd(&inputs);
    assert!(res.status.success(), "{}", text(&res.stderr));
    let got = SafeTensors::open(&out)
        .unwrap()
        .read("logits")
        .unwrap()
        .unwrap();
    assert_eq!(got.shape, expected.shape);
    let v = got.shape[2];
    let worst = (0..mask.len())
        .filter(|&p| mask[p] == 1)
        .flat_map(|p| (p * v..(p + 1) * v).map(|i| (got.data[i] - expected.data[i]).abs()))
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "logits differ by {worst}");

    let one_image = pixels.data[..pixels.data.len() / 3].to_vec();
    let mut one_shape = pixels.shape.clone();
    one_shape[0] = 1;
    write(
        &inputs,
        &[("pixel_values", &one_shape, &one_image)],
        &[
            ("input_ids", &shape, &ids),
            ("attention_mask", &shape, &mask),
        ],
    )
    .unwrap();
    let res = fwd(&inputs);
    assert_eq!(res.status.code(), Some(1));
    assert!(
        text(&res.stderr)
            .contains("the prompt has 75 image tokens but 1 image(s) give 25 features"),
        "{}",
        text(&res.stderr)
    );
}

#[test]
fn forward_writes_the_reference_logits() {
    use vlm::weights::safetensors::{read_i64, write, SafeTensors};
    use vlm::weights::TensorSource;
    let model = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../vlm/tests/fixtures/tiny-llama"
    );
    let mut io = SafeTensors::open(&std::path::Path::new(model).join("io.safetensors")).unwrap();
    let (shape, ids) = read_i64(&mut io, "input_ids").unwrap().unwrap();
    let expected = io.read("logits").unwrap().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("in.safetensors");
    let out = dir.path().join("out.safetensors");
    write(&inputs, &[], &[("input_ids", &shape, &ids)]).unwrap();
    let run_fwd = |inp: &std::path::Path| {
        run(
            &[
                "forward",
                "--model",
                model,
                "--inputs",
                inp.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            None,
        )
    };
    let res = run_fwd(&inputs);
    assert!(res.status.success(), "{}", text(&res.stderr));
    let got = SafeTensors::open(&out)
        .unwrap()
        .read("logits")
        .unwrap()
        .unwrap();
    assert_eq!(got.shape, expected.shape);
    let diff = got
        .data
        .iter()
        .zip(&expected.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(diff < 1e-4, "logits differ by {diff}");

    // Bad inputs: a token outside the vocabulary, a missing tensor, a truncated model file.
    write(&inputs, &[], &[("input_ids", &[1, 2], &[5, 999])]).unwrap();
    let res = run_fwd(&inputs);
    assert_eq!(res.status.code(), Some(1));
    assert!(
        text(&res.stderr).contains("token id 999 is outside the vocabulary"),
        "{}",
        text(&res.stderr)
    );
    write(&inputs, &[("x", &[1], &[0.0])], &[]).unwrap();
    assert!(text(&run_fwd(&inputs).stderr).contains("no tensor named input_ids"));
    let broken = dir.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::copy(
        std::path::Path::new(model).join("config.json"),
        broken.join("config.json"),
    )
    .unwrap();
    let bytes = std::fs::read(std::path::Path::new(model).join("model.safetensors")).unwrap();
    std::fs::write(broken.join("model.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    write(&inputs, &[], &[("input_ids", &shape, &ids)]).unwrap();
    let res = run(
        &[
            "forward",
            "--model",
            broken.to_str().unwrap(),
            "--inputs",
            inputs.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    let err = text(&res.stderr);
    assert!(
        err.contains("model.safetensors") && err.contains("not a valid safetensors file"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
}

/// `forward --decode N --repeat 2` (what bench/gpu.sh runs): both passes and both decodings
/// are reported, with N tokens each; a batch of two prompts cannot be decoded and says so.
#[test]
fn forward_times_repeated_passes_and_decoding() {
    use vlm::weights::safetensors::write;
    let model = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../vlm/tests/fixtures/tiny-llama"
    );
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("in.safetensors");
    let out = dir.path().join("out.safetensors");
    let fwd = |extra: &[&str]| {
        let mut args = vec![
            "forward",
            "--model",
            model,
            "--inputs",
            inputs.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        run(&args, None)
    };
    write(&inputs, &[], &[("input_ids", &[1, 4], &[1, 5, 6, 7])]).unwrap();
    let res = fwd(&["--decode", "5", "--repeat", "2"]);
    let err = text(&res.stderr);
    assert!(res.status.success(), "{err}");
    assert!(
        err.contains("pass 1: forward") && err.contains("pass 2: forward"),
        "{err}"
    );
    assert_eq!(err.matches("decode: 5 tokens, ").count(), 2, "{err}");
    assert!(err.contains("; forward: "), "{err}");

    write(&inputs, &[], &[("input_ids", &[2, 2], &[1, 5, 1, 6])]).unwrap();
    let res = fwd(&["--decode", "3"]);
    assert_eq!(res.status.code(), Some(1));
    assert!(
        text(&res.stderr).contains("--decode takes one prompt (batch 1)"),
        "{}",
        text(&res.stderr)
    );
}

#[test]
fn generate_refuses_missing_models_and_bad_options_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let out = run(
        &[
            "generate",
            "--model",
            "/nonexistent/model.gguf",
            "--prompt",
            "hi",
            "--data-dir",
            data,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(
            "\"/nonexistent/model.gguf\" is neither a file, a folder nor a registered model (registered: "
        ),
        "{}",
        text(&out.stderr)
    );
    let fake = dir.path().join("fake.gguf");
    std::fs::write(&fake, b"GGUF\x03\x00\x00\x00").unwrap();
    for args in [
        vec![
            "generate",
            "--model",
            fake.to_str().unwrap(),
            "--prompt",
            "hi",
        ],
        vec![
            "model",
            "add",
            "fake",
            fake.to_str().unwrap(),
            "--data-dir",
            data,
        ],
    ] {
        let out = run(&args, None);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            text(&out.stderr).contains("not a valid GGUF file"),
            "{}",
            text(&out.stderr)
        );
    }
    let out = run(
        &[
            "generate",
            "--model",
            "smollm2",
            "--prompt",
            "hi",
            "--device",
            "tpu",
            "--data-dir",
            data,
        ],
        None,
    );
    assert!(
        text(&out.stderr).contains("unknown device"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !dir.path()
            .join("data/models/smollm2-135m-instruct")
            .exists(),
        "nothing installed for a command that cannot run"
    );
}

/// The embedded model: installed into the data folder's store on first use, registered, and
/// answering by its short name (needs the download scripts/setup.sh makes, named by
/// VLM_INSPECT_SMOLLM2_GGUF; ignored by a plain `cargo test`, scripts/test.sh runs it).
#[test]
#[ignore = "needs VLM_INSPECT_SMOLLM2_GGUF (scripts/setup.sh fetches it; scripts/test.sh runs it)"]
fn embedded_model_installs_once_and_generates() {
    let gguf = std::env::var_os("VLM_INSPECT_SMOLLM2_GGUF")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            panic!("set VLM_INSPECT_SMOLLM2_GGUF (scripts/setup.sh fetches it; scripts/test.sh sets it)")
        });
    assert!(
        gguf.is_file(),
        "{} does not exist: run scripts/setup.sh",
        gguf.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let out = run(&["model", "list", "--data-dir", data], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let installed = dir
        .path()
        .join("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(installed.is_file());
    assert!(text(&out.stdout).contains(&format!(
        "smollm2-135m-instruct\tllama-gguf\t{}",
        installed.display()
    )));
    let out = run(
        &[
            "generate",
            "--model",
            "smollm2",
            "--prompt",
            "What is 2 + 2?",
            "--max-new-tokens",
            "6",
            "--data-dir",
            data,
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).trim().is_empty());
    assert!(
        text(&out.stderr).contains("generation: "),
        "{}",
        text(&out.stderr)
    );
    // Prompt plus new tokens beyond SmolLM2's 8,192-token context: refused before generating.
    let out = run(
        &[
            "generate",
            "--model",
            "smollm2",
            "--prompt",
            "Hi",
            "--max-new-tokens",
            "9000",
            "--data-dir",
            data,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("exceeds the model's context of 8192"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        &[
            "model",
            "add",
            "again",
            installed.to_str().unwrap(),
            "--data-dir",
            data,
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(
        &[
            "generate",
            "--model",
            "again",
            "--prompt",
            "Hi",
            "--max-new-tokens",
            "2",
            "--data-dir",
            data,
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// InternVL folders: `generate --image` tiles each image and expands its marker in the
/// checkpoint's template; `--max-patches` caps the tiles; a prompt past the context is refused
/// with its token count; `preprocess` writes the tiles and their count.
#[test]
fn generate_and_preprocess_take_internvl_folders() {
    let dir = tempfile::tempdir().unwrap();
    let (_, images) = common::tiny_llava_folder(dir.path());
    let (a, b) = (images[0].to_str().unwrap(), images[1].to_str().unwrap());
    let model = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../vlm/tests/fixtures/tiny-internvl"
    );
    let gen = |extra: &[&str]| {
        let mut args = vec!["generate", "--model", model, "--max-new-tokens", "3"];
        args.extend_from_slice(extra);
        run(&args, None)
    };
    // 40×30 and 64×48 at 28 px tiles: 4×3 + 1 tiles each (aspect 4:3), 4 tokens a tile.
    let out = gen(&["--image", a, "--image", b, "--prompt", "w9 w10"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("generation: 3 tokens"), "{err}");
    // <|im_start|> user, 2 × (<img> 52 </img>), w9 w10, <|im_end|> <|im_start|> assistant
    assert!(err.contains("prompt: 115 tokens"), "{err}");
    // One tile each, no thumbnail: 2 + 2 × (1 + 4 + 1) + 1 + 3.
    let out = gen(&[
        "--image",
        a,
        "--image",
        b,
        "--max-patches",
        "1",
        "--prompt",
        "w9",
    ]);
    assert!(
        text(&out.stderr).contains("prompt: 18 tokens"),
        "{}",
        text(&out.stderr)
    );
    let out = gen(&["--image", a, "--raw", "--prompt", "w9"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .contains("the prompt has 0 image marker(s) (<IMG_CONTEXT>) but 1 image(s)"),
        "{}",
        text(&out.stderr)
    );
    let out = gen(&["--image", a, "--image", b, "--image", a, "--prompt", "w9"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("exceeds the model's context of 128"),
        "{}",
        text(&out.stderr)
    );
    let out = gen(&["--max-patches", "0", "--prompt", "w9"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--max-patches 0"),
        "{}",
        text(&out.stderr)
    );

    // Registered, it is used by name.
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let out = run(&["model", "add", "tiny-ivl", model, "--data-dir", d], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&["model", "list", "--data-dir", d], None);
    assert!(
        text(&out.stdout).contains("tiny-ivl\tinternvl\t"),
        "{}",
        text(&out.stdout)
    );
    let out = run(
        &[
            "generate",
            "--model",
            "tiny-ivl",
            "--data-dir",
            d,
            "--image",
            a,
            "--prompt",
            "w9",
            "--max-new-tokens",
            "2",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("generation: 2 tokens"),
        "{}",
        text(&out.stderr)
    );

    let written = dir.path().join("tiles.safetensors");
    let out = run(
        &[
            "preprocess",
            "--model",
            model,
            "--image",
            a,
            "--out",
            written.to_str().unwrap(),
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut st = vlm::weights::SafeTensors::open(&written).unwrap();
    let (_, count) = vlm::weights::safetensors::read_i64(&mut st, "num_patches")
        .unwrap()
        .unwrap();
    assert_eq!(count, [13]);
    use vlm::weights::TensorSource;
    let pixels = st.read("pixel_values").unwrap().unwrap();
    assert_eq!(pixels.shape, [13, 3, 28, 28]);
    assert!(!text(&out.stderr).contains("panicked"));
}

/// `generate --image`: a LLaVA folder answers about two images; images that do not fit the
/// prompt, undecodable files and text-only models are clear errors.
#[test]
fn generate_with_images_runs_llava_and_refuses_bad_images() {
    let dir = tempfile::tempdir().unwrap();
    let (model, images) = common::tiny_llava_folder(dir.path());
    let (m, a, b) = (
        model.to_str().unwrap(),
        images[0].to_str().unwrap(),
        images[1].to_str().unwrap(),
    );
    let gen = |extra: &[&str]| {
        let mut args = vec![
            "generate",
            "--model",
            m,
            "--max-new-tokens",
            "3",
            "--min-new-tokens",
            "3",
        ];
        args.extend_from_slice(extra);
        run(&args, None)
    };
    let out = gen(&["--image", a, "--image", b, "--prompt", "hello"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("generation: 3 tokens"),
        "{}",
        text(&out.stderr)
    );
    // The template writes one <image> per image: with --raw the prompt must have them.
    let out = gen(&[
        "--image",
        a,
        "--image",
        b,
        "--raw",
        "--prompt",
        "USER: <image> hello",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .contains("the prompt has 25 image tokens but 2 image(s) give 50 features"),
        "{}",
        text(&out.stderr)
    );
    let junk = dir.path().join("junk.jpg");
    std::fs::write(&junk, b"not a jpeg").unwrap();
    let out = gen(&["--image", junk.to_str().unwrap(), "--prompt", "hello"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("junk.jpg: not an image this tool can decode"),
        "{}",
        text(&out.stderr)
    );
    let tiny_llama = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../vlm/tests/fixtures/tiny-llama"
    );
    let out = run(
        &[
            "generate", "--model", tiny_llama, "--image", a, "--prompt", "hi",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("without a vision tower"),
        "{}",
        text(&out.stderr)
    );
    assert!(!text(&out.stderr).contains("panicked"));
}

/// `train --config`: Part A on a tiny LLaVA and a synthetic split writes checkpoints and a PEFT
/// adapter, registers it as a model that `generate` runs, resumes from the run folder, and
/// refuses bad configurations naming the field before loading anything.
#[test]
fn train_writes_an_adapter_registers_it_and_refuses_bad_configs() {
    let dir = tempfile::tempdir().unwrap();
    let (model, images) = common::tiny_llava_folder(dir.path());
    let (key, d) = tiny_split(dir.path());
    let d_s = d.as_str();
    let config = |extra: &str| {
        let path = dir.path().join("train.toml");
        std::fs::write(
            &path,
            format!(
                "base_model = {:?}\ndataset = \"tiny\"\nsplit = {key:?}\nname = \"tiny-qa\"\n{extra}",
                model.to_str().unwrap()
            ),
        )
        .unwrap();
        path
    };
    let good = config("[training]\nepochs = 2\nbatch_size = 2\nlearning_rate = 1e-3\n");
    let runs = dir.path().join("run");
    let out = run(
        &[
            "train",
            "--config",
            good.to_str().unwrap(),
            "--out",
            runs.to_str().unwrap(),
            "--data-dir",
            d_s,
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("registered as model \"tiny-qa\""),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("loss"),
        "a progress bar: {}",
        text(&out.stderr)
    );
    assert!(runs.join("adapter/adapter_model.safetensors").is_file());
    let config_json = std::fs::read_to_string(runs.join("adapter/adapter_config.json")).unwrap();
    assert!(
        config_json.contains("\"peft_type\": \"LORA\""),
        "{config_json}"
    );
    assert!(std::fs::read_dir(&runs).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with("checkpoint-")));
    assert!(ok(&["model", "list", "--data-dir", d_s]).contains("tiny-qa"));
    let reply = run(
        &[
            "generate",
            "--model",
            "tiny-qa",
            "--data-dir",
            d_s,
            "--image",
            images[0].to_str().unwrap(),
            "--prompt",
            "hello",
            "--max-new-tokens",
            "2",
        ],
        None,
    );
    assert!(
        reply.status.success(),
        "the adapter runs: {}",
        text(&reply.stderr)
    );
    // Resuming a finished run continues from its last checkpoint (nothing left to do).
    let out = run(
        &[
            "train",
            "--resume",
            runs.to_str().unwrap(),
            "--data-dir",
            d_s,
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    for (extra, field) in [
        ("[training.lora]\nrank = 0\n", "training.lora.rank"),
        (
            "[training]\nlearning_rate = -0.1\n",
            "training.learning_rate",
        ),
        ("[training.lora]\ntargets = [\"fc9\"]\n", "lora.targets"),
    ] {
        let out = run(
            &[
                "train",
                "--config",
                config(extra).to_str().unwrap(),
                "--out",
                dir.path().join("bad").to_str().unwrap(),
                "--data-dir",
                d_s,
            ],
            None,
        );
        assert_eq!(out.status.code(), Some(1), "{extra}");
        assert!(
            text(&out.stderr).contains(field),
            "{field}: {}",
            text(&out.stderr)
        );
    }
    let no_split = dir.path().join("nosplit.toml");
    std::fs::write(
        &no_split,
        format!(
            "base_model = {:?}\ndataset = \"tiny\"\nsplit = \"nope\"\n",
            model.to_str().unwrap()
        ),
    )
    .unwrap();
    let out = run(
        &[
            "train",
            "--config",
            no_split.to_str().unwrap(),
            "--data-dir",
            d_s,
        ],
        None,
    );
    assert!(text(&out.stderr).contains("split"), "{}", text(&out.stderr));
}

/// `bertscore`: JSON scores per candidate with the hash; several --refs keep the best; a
/// line-count mismatch, a layer out of range and a missing model are clear errors.
#[test]
fn bertscore_prints_json_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let model =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../vlm/tests/fixtures/tiny-bert");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let cands = write("c.txt", "a scratch on the cap\n\nthe label is missing\n");
    let refs = write(
        "r.txt",
        "a scratch on the cap\nno defect\nthe cap is gone\n",
    );
    let refs2 = write(
        "r2.txt",
        "something else\nno defect at all\nthe label is missing\n",
    );
    let m = model.to_str().unwrap();
    let score = |extra: &[&str]| {
        let mut args = vec![
            "bertscore",
            "--model",
            m,
            "--layers",
            "2",
            "--cands",
            &cands,
        ];
        args.extend_from_slice(extra);
        run(&args, None)
    };
    let out = score(&["--refs", &refs]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    let f1: Vec<f64> = v["F1"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(f1.len(), 3);
    assert!((f1[0] - 1.0).abs() < 1e-5, "identical texts: {f1:?}");
    assert_eq!(f1[1], 0.0, "an empty candidate scores 0");
    assert!(
        v["hash"].as_str().unwrap().ends_with(")")
            && v["hash"].as_str().unwrap().contains("_L2_no-idf_version=")
    );
    let out = score(&["--refs", &refs, "--refs", &refs2, "--idf"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v2: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert!(
        v2["F1"][2].as_f64().unwrap() > 0.99,
        "the second reference matches: {v2}"
    );
    assert!(v2["hash"].as_str().unwrap().contains("_idf_"));

    let short = write("s.txt", "only one line\n");
    let out = score(&["--refs", &short]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("one reference per candidate"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        &[
            "bertscore",
            "--model",
            m,
            "--layers",
            "9",
            "--cands",
            &cands,
            "--refs",
            &refs,
        ],
        None,
    );
    assert!(
        text(&out.stderr).contains("--layers 9"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        &[
            "bertscore",
            "--model",
            dir.path().to_str().unwrap(),
            "--layers",
            "1",
            "--cands",
            &cands,
            "--refs",
            &refs,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("config.json"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn eval_prints_both_tables_writes_json_and_csv_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let (model, _) = common::tiny_llava_folder(dir.path());
    let model_s = model.to_str().unwrap();
    let (key, d) = tiny_split(dir.path());
    let d_s = d.as_str();
    let out_dir = dir.path().join("out");
    let out = run(
        &[
            "eval",
            "--model",
            model_s,
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
            out_dir.to_str().unwrap(),
            "--data-dir",
            d_s,
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    // Written to a pipe, progress is one line per prediction, not one line redrawn.
    let progress = text(&out.stderr);
    assert!(!progress.contains('\r'), "{progress:?}");
    for n in 1..=6 {
        assert!(
            progress.lines().any(|l| l.starts_with(&format!("{n}/6 "))),
            "{progress}"
        );
    }
    assert!(stdout.contains("Table 1: accuracy (%)"), "{stdout}");
    assert!(stdout.contains(
        "| Method | Logical-Acc | Struct-Acc | Average | Good-Acc | Balanced | Images |"
    ));
    assert!(stdout.contains("+ CoI (P1) |"), "{stdout}");
    assert!(stdout.contains("Table 2: BERTScore"), "{stdout}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("evaluation-1.json")).unwrap())
            .unwrap();
    assert_eq!(
        json["predictions"].as_array().unwrap().len(),
        6,
        "3 images × 2 prompts"
    );
    let csv = std::fs::read_to_string(out_dir.join("evaluation-1.csv")).unwrap();
    assert_eq!(csv.lines().count(), 7);
    // A finished run resumes to the same tables without judging anything again.
    let again = ok(&[
        "eval",
        "--resume",
        "1",
        "--out",
        out_dir.to_str().unwrap(),
        "--data-dir",
        d_s,
    ]);
    assert_eq!(
        again.lines().take(8).collect::<Vec<_>>(),
        stdout.lines().take(8).collect::<Vec<_>>()
    );
    // Deleting it: refused while a reviewer's judgement would go with it, unless confirmed;
    // then the judgement is kept in exports/ and the run's output folder goes.
    ok(&[
        "user",
        "add",
        "rex",
        "--role",
        "reviewer",
        "--data-dir",
        d_s,
    ]);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = store::Store::open(
            &std::path::Path::new(d_s).join(store::DATABASE_FILE),
            Default::default(),
        )
        .await
        .unwrap();
        store.share_review(1, "rex").await.unwrap();
        let rex = store.user("rex").await.unwrap();
        let first = &store.predictions(1).await.unwrap()[0];
        let key = store::ItemKey {
            image_id: first.image_id,
            prompt: first.prompt.clone(),
        };
        let judgement = review::Judgement {
            verdict: review::VerdictCall::Right,
            explanation: review::ExplanationCall::Partly,
            score: review::Score::try_from(3).unwrap(),
            tags: vec![review::ReviewTag::Vague],
            comment: String::new(),
            fixed_explanation: None,
        };
        store
            .save_judgement(&rex, 1, &key, judgement, None)
            .await
            .unwrap();
        store.close().await;
    });
    std::fs::create_dir_all(std::path::Path::new(d_s).join("runs/eval-1")).unwrap();
    let out = run(&["eval", "--delete", "1", "--data-dir", d_s], None);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("1 judgement(s) by reviewers"),
        "{}",
        text(&out.stderr)
    );
    let deleted = ok(&["eval", "--delete", "1", "--with-reviews", "--data-dir", d_s]);
    assert!(
        deleted.contains("evaluation run 1 was deleted"),
        "{deleted}"
    );
    let kept: Vec<_> = std::fs::read_dir(std::path::Path::new(d_s).join("exports"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(
        kept.iter().all(|f| f.starts_with("run-1-judgements-")),
        "{kept:?}"
    );
    assert!(!std::path::Path::new(d_s).join("runs/eval-1").exists());
    let out = run(&["eval", "--delete", "1", "--data-dir", d_s], None);
    assert!(
        text(&out.stderr).contains("no evaluation run 1"),
        "{}",
        text(&out.stderr)
    );
    assert!(!out.status.success());
    // Bad input is named.
    for (split, extra, want) in [
        (key.as_str(), ["--prompts", "P9"], "prompts"),
        ("nope", ["--prompts", "plain"], "split"),
        (key.as_str(), ["--limit", "0"], "limit"),
    ] {
        let mut full = vec![
            "eval",
            "--model",
            model_s,
            "--dataset",
            "tiny",
            "--split",
            split,
            "--data-dir",
            d_s,
        ];
        full.extend(extra);
        let out = run(&full, None);
        assert!(!out.status.success(), "{full:?}");
        assert!(
            text(&out.stderr).contains(want),
            "{want}: {}",
            text(&out.stderr)
        );
    }
    let gguf_like = dir.path().join("lm.gguf");
    std::fs::write(&gguf_like, b"GGUF").unwrap();
    let out = run(
        &[
            "eval",
            "--model",
            gguf_like.to_str().unwrap(),
            "--dataset",
            "tiny",
            "--split",
            &key,
            "--data-dir",
            d_s,
        ],
        None,
    );
    assert!(
        text(&out.stderr).contains("not a vision-language model"),
        "{}",
        text(&out.stderr)
    );
}

/// InternVL in the product: an evaluation with plain and Chain-of-Image prompts (tiles capped
/// so two images fit the tiny model's 128-token context), LoRA training with the projector
/// through the same trainer, the adapter registered, evaluated and chatting.
#[test]
fn internvl_evaluates_and_trains_like_llava() {
    let dir = tempfile::tempdir().unwrap();
    let (key, d) = tiny_split(dir.path());
    let d_s = d.as_str();
    let internvl = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../vlm/tests/fixtures/tiny-internvl"
    );
    let eval = |model: &str, extra: &[&str]| {
        let mut args = vec![
            "eval",
            "--model",
            model,
            "--dataset",
            "tiny",
            "--split",
            &key,
            "--limit",
            "3",
            "--max-new-tokens",
            "4",
            "--data-dir",
            d_s,
        ];
        args.extend_from_slice(extra);
        run(&args, None)
    };
    let out = eval(internvl, &["--prompts", "plain,P1", "--max-patches", "1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("+ CoI (P1) |"), "{stdout}");
    assert!(stdout.contains("Table 2: BERTScore"), "{stdout}");
    // 3 × 3 tiles and a thumbnail per 64 px image do not fit: refused before the run starts,
    // with the token count the run itself met (2 × (2 + 10 × 4) image tokens + 86 of text).
    let out = eval(internvl, &["--prompts", "P1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("max_patches: prompt \"P1\" takes up to 170 tokens with its images (10 + 10 tiles) plus 4 new tokens, past the model's context of 128"),
        "{err}"
    );
    assert!(!err.contains("evaluation job"), "no job was queued: {err}");

    let config = dir.path().join("train.toml");
    std::fs::write(
        &config,
        format!(
            "base_model = {internvl:?}\ndataset = \"tiny\"\nsplit = {key:?}\nname = \"ivl-qa\"\nmax_patches = 1\n[training]\nepochs = 2\nbatch_size = 2\nlearning_rate = 1e-3\ntrain_projector = true\n"
        ),
    )
    .unwrap();
    let runs = dir.path().join("run");
    let out = run(
        &[
            "train",
            "--config",
            config.to_str().unwrap(),
            "--out",
            runs.to_str().unwrap(),
            "--data-dir",
            d_s,
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let adapter: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(runs.join("adapter/adapter_config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(adapter["modules_to_save"][0], "multi_modal_projector");
    let out = eval("ivl-qa", &["--prompts", "plain", "--max-patches", "1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("Table 1"),
        "{}",
        text(&out.stdout)
    );
    let image = walk_first_png(&dir.path().join("synth"));
    let out = run(
        &[
            "generate",
            "--model",
            "ivl-qa",
            "--data-dir",
            d_s,
            "--image",
            image.to_str().unwrap(),
            "--max-patches",
            "1",
            "--prompt",
            "w9",
            "--max-new-tokens",
            "2",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// The first image file under `dir`.
fn walk_first_png(dir: &std::path::Path) -> std::path::PathBuf {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "png") {
                return p;
            }
        }
    }
    panic!("no png under {}", dir.display())
}

/// A fresh data folder can evaluate the default model before `serve` has ever run: the
/// command installs it the way the first start does.
#[test]
#[ignore = "needs VLM_INSPECT_SMOLLM2_GGUF (scripts/setup.sh fetches it; scripts/test.sh runs it)"]
fn eval_installs_the_default_model_on_a_fresh_data_folder() {
    if std::env::var_os("VLM_INSPECT_SMOLLM2_GGUF").is_none() {
        panic!(
            "set VLM_INSPECT_SMOLLM2_GGUF (scripts/setup.sh fetches it; scripts/test.sh sets it)"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let (key, d) = tiny_split(dir.path());
    let out = run(
        &[
            "eval",
            "--model",
            "vlm-default",
            "--dataset",
            "tiny",
            "--split",
            &key,
            "--prompts",
            "plain",
            "--limit",
            "1",
            "--max-new-tokens",
            "2",
            "--data-dir",
            &d,
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("vlm-default |"),
        "{}",
        text(&out.stdout)
    );
    let models = ok(&["model", "list", "--data-dir", &d]);
    for name in ["vlm-default\t", "vlm-default-stage1\t"] {
        assert!(models.contains(name), "{models}");
    }
}

/// Two installs of the default model at once (the first start's in the background, and a
/// request naming the model) used to break each other: the second deleted the first one's
/// half-composed base folder, and the request failed naming a missing `base.part/config.json`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs VLM_INSPECT_SMOLLM2_GGUF (scripts/setup.sh fetches it; scripts/test.sh runs it)"]
async fn two_installs_of_the_default_model_at_once_both_succeed() {
    if std::env::var_os("VLM_INSPECT_SMOLLM2_GGUF").is_none() {
        panic!(
            "set VLM_INSPECT_SMOLLM2_GGUF (scripts/setup.sh fetches it; scripts/test.sh sets it)"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    let store = store::Store::open(&data.join("vlm-inspect.db"), Default::default())
        .await
        .unwrap();
    let install = || {
        let (store, data) = (store.clone(), data.clone());
        tokio::spawn(async move { jobs::default_model::ensure_default_vlm(&store, &data).await })
    };
    let (a, b) = (install(), install());
    for got in [a.await.unwrap(), b.await.unwrap()] {
        assert_eq!(got.unwrap().as_deref(), Some("vlm-default"));
    }
}

#[test]
fn draft_qa_drafts_and_review_decide_decides_once() {
    let dir = tempfile::tempdir().unwrap();
    let (model, _) = common::tiny_llava_folder(dir.path());
    let model_s = model.to_str().unwrap();
    let (_, d) = tiny_split(dir.path());
    let d_s = d.as_str();
    // Every demo image is annotated: nothing to draft unless annotated images are included.
    let out = run(
        &[
            "dataset",
            "draft-qa",
            "--dataset",
            "tiny",
            "--model",
            model_s,
            "--data-dir",
            d_s,
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no image to draft"),
        "{}",
        text(&out.stderr)
    );
    let drafted = ok(&[
        "dataset",
        "draft-qa",
        "--dataset",
        "tiny",
        "--model",
        model_s,
        "--include-annotated",
        "--label",
        "structural",
        "--limit",
        "2",
        "--max-new-tokens",
        "4",
        "--data-dir",
        d_s,
    ]);
    assert!(drafted.contains("2 draft(s) stored"), "{drafted}");
    let listed = ok(&["review", "drafts", "--job", "1", "--data-dir", d_s]);
    let rows: Vec<&str> = listed.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{listed}");
    assert!(rows.iter().all(|r| r.contains("\tpending\t")), "{listed}");
    let first = rows[0].split('\t').next().unwrap();
    ok(&["user", "add", "mel", "--data-dir", d_s]);
    let decided = ok(&[
        "review",
        "decide",
        "--draft",
        first,
        "--version",
        "1",
        "--as",
        "mel",
        "--edit",
        "A scratch at the top left.",
        "--data-dir",
        d_s,
    ]);
    assert!(
        decided.contains("edited by mel (now version 2); QA annotation"),
        "{decided}"
    );
    let out = run(
        &[
            "review",
            "decide",
            "--draft",
            first,
            "--version",
            "1",
            "--as",
            "mel",
            "--accept",
            "--data-dir",
            d_s,
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("mel decided this draft first"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        &[
            "review",
            "decide",
            "--draft",
            first,
            "--version",
            "2",
            "--as",
            "mel",
            "--data-dir",
            d_s,
        ],
        None,
    );
    assert!(!out.status.success(), "a decision is required");
}
