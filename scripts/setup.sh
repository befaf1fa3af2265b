#!/usr/bin/env bash
# Installs what building and running vlm-inspect needs, once; safe to run again.
# Sourced by scripts/run.sh and scripts/test.sh. With SETUP_BROWSER=1 it also installs
# Chromium and playwright-core for the browser tests.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${VLM_INSPECT_CACHE:-$HOME/.cache/vlm-inspect}"
# Outside the clone, so a fresh clone (CI) reuses earlier builds.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
export PATH="$HOME/.cargo/bin:$CACHE/node/node_modules/.bin:$PATH"

CARGO_LEPTOS_VERSION=0.3.10
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

if [ "$(cargo leptos --version 2>/dev/null | awk '{print $2}')" != "$CARGO_LEPTOS_VERSION" ]; then
  say "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 20-30 minutes the first time)"
  cargo install "cargo-leptos@$CARGO_LEPTOS_VERSION" --locked
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

if [ "${SETUP_BROWSER:-0}" = 1 ]; then
  apt_install chromium chromium-driver curl python3
  if [ ! -d "$ROOT/end2end/node_modules/playwright-core" ]; then
    say "installing playwright-core for the browser tests"
    (cd "$ROOT/end2end" && npm ci --no-audit --no-fund --silent)
  fi
fi

say "tools ready (build folder: $CARGO_TARGET_DIR)"
