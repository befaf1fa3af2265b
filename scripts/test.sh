#!/usr/bin/env bash
# Sets everything up and runs the whole test suite: formatting, lints, unit and integration
# tests, a short run of each fuzz target, the release build (with the wasm size), and the
# browser tests.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SETUP_BROWSER=1
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
if [ "${CI:-}" = "true" ]; then
  # Each CI run builds from a new clone path, so the shared build folder would keep one set of
  # workspace-crate artifacts per run: drop the old ones (dependencies stay cached) and skip
  # incremental data nobody will reuse.
  export CARGO_INCREMENTAL=0
  for profile in dev release; do
    cargo clean --profile "$profile" -p vlm-inspect -p app -p store -p anomaly -p vlm -p frontend >/dev/null 2>&1 || true
  done
fi
step() { printf '\n\033[1;34m[test]\033[0m %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all --check
cargo fmt --manifest-path fuzz/Cargo.toml --check
# The browser crate is checked for its own target: built for the host together with the
# server, cargo would unify app's "hydrate" and "ssr" features into one library.
step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --exclude frontend --all-targets -- -D warnings
cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings
step "unit and integration tests"
cargo test --workspace --exclude frontend
step "the store's tests and the server's in-process suites again, on PostgreSQL (loopback)"
PG_DIR="$(mktemp -d /tmp/vlm-inspect-pg.XXXXXX)"
trap 'bash "$ROOT/scripts/postgres.sh" stop "$PG_DIR"' EXIT
VLM_INSPECT_TEST_DATABASE_URL="$(bash scripts/postgres.sh start "$PG_DIR" "${VLM_INSPECT_PG_PORT:-55433}")"
export VLM_INSPECT_TEST_DATABASE_URL
cargo test -p store --features db
cargo test -p jobs --lib runner::worker
# The same package selection as the step above, so nothing is built again with other features.
cargo test --workspace --exclude frontend --test access_matrix --test auth --test datasets \
  --test drafts --test evaluation --test remote_models --test review --test roles --test security \
  --test training
bash scripts/postgres.sh stop "$PG_DIR" && trap - EXIT
unset VLM_INSPECT_TEST_DATABASE_URL
# A plain `cargo test` ignores the tests that need setup.sh's downloads, a release build or a
# wgpu adapter: each is run by one of the next three steps (the CUDA ones are only compiled
# here). The same package selection as above builds nothing new.
step "downloaded references: tokenizer vectors, CLIP preprocessing, BERTScore, the embedded model"
cargo test --workspace --exclude frontend --test tokenizer --test clip_preprocess --test internvl_preprocess --test bertscore --test cli -- --ignored
step "real weights: SmolLM2-135M against transformers (release build)"
cargo test --release -p vlm --test smollm2 --test compose -- --ignored
step "GPU code paths: wgpu parity on the CPU's Vulkan driver (lavapipe); wgpu + cuda compile"
cargo test -p vlm --features wgpu --test llama_parity --test internvl_parity --test lora_train -- --ignored
# Jobs launched from the web on a server started with --device wgpu run on wgpu.
cargo test -p vlm-inspect --features wgpu --test devices -- --ignored
cargo clippy -p vlm-inspect -p vlm --features wgpu,cuda --all-targets -- -D warnings
step "fuzz targets: each for 20 s (scripts/fuzz.sh; the 10^6-run figures are in docs/fuzzing.md)"
bash scripts/fuzz.sh 20
step "release build (server + wasm bundle)"
bash scripts/build.sh
step "browser tests (headless Chromium)"
bash scripts/e2e.sh
step "all tests passed"
