#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ (cargo-fuzz, nightly Rust, AddressSanitizer) and runs
# each for a time or a number of inputs; fails when any target finds a crash, a leak, an
# allocation past libFuzzer's limit or an input slower than the timeout.
#
#   scripts/fuzz.sh [--runs N] [--workers W] [SECONDS_PER_TARGET] [TARGET...]
#                                                   (default: 60 s, one worker, all targets)
#
# Installs the nightly toolchain and cargo-fuzz when missing. Each target starts from its seeds
# in fuzz/corpus/TARGET (committed, read-only here) and from what earlier runs found, kept in
# $VLM_INSPECT_CACHE/fuzz-corpus/TARGET; a failing input is written to fuzz/artifacts/TARGET/
# and reproduces with `cargo +nightly fuzz run TARGET FILE`. See docs/fuzzing.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${VLM_INSPECT_CACHE:-$HOME/.cache/vlm-inspect}"
export PATH="$HOME/.cargo/bin:$PATH"
CARGO_FUZZ_VERSION=0.13.2
# Its own build folder: instrumented builds of the same crates never evict the normal ones.
FUZZ_TARGET_DIR="${VLM_INSPECT_FUZZ_TARGET_DIR:-$CACHE/fuzz-target}"
GROWN="$CACHE/fuzz-corpus"
ARTIFACTS="$ROOT/fuzz/artifacts"

say() { printf '\033[1;34m[fuzz]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[fuzz]\033[0m %s\n' "$*" >&2; exit 1; }

usage="usage: scripts/fuzz.sh [--runs N] [--workers W] [SECONDS_PER_TARGET] [TARGET...]"
limit=(-max_total_time=60)
runs_total=""
workers=1
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) [[ "${2:-}" =~ ^[0-9]+$ ]] || die "--runs needs a number"; runs_total="$2"; shift 2 ;;
    --workers) [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || die "--workers needs a number from 1"; workers="$2"; shift 2 ;;
    -*) die "$usage" ;;
    *) break ;;
  esac
done
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then limit=(-max_total_time="$1"); shift; fi
# W workers share one target's corpus, each with its own seed and a W-th of the runs.
[ -z "$runs_total" ] || limit=(-runs="$(( (runs_total + workers - 1) / workers ))")

command -v rustup >/dev/null || die "rustup is required: install Rust with rustup first"
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  say "installing the nightly toolchain (cargo-fuzz needs -Z flags)"
  rustup toolchain install nightly --profile minimal
fi
if [ "$(cargo fuzz --version 2>/dev/null | awk '{print $2}')" != "$CARGO_FUZZ_VERSION" ]; then
  say "installing cargo-fuzz $CARGO_FUZZ_VERSION (about a minute)"
  cargo install "cargo-fuzz@$CARGO_FUZZ_VERSION" --locked
fi
# libfuzzer-sys compiles libFuzzer itself, which is C++.
if ! command -v c++ >/dev/null; then
  say "installing g++ (libFuzzer is C++)"
  if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq g++
fi

cd "$ROOT"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)

host="$(rustc +nightly -vV | awk '/^host:/ {print $2}')"
if [ "${CI:-}" = "true" ]; then
  # As scripts/test.sh does for the main build folder: each CI clone path would leave its own
  # copy of the workspace crates here; drop the old ones (dependencies stay cached).
  (cd fuzz && cargo +nightly clean --release --target-dir "$FUZZ_TARGET_DIR" --target "$host" \
    -p vlm-inspect-fuzz -p vlm -p anomaly -p remote >/dev/null 2>&1) || true
fi
say "building the targets (build folder: $FUZZ_TARGET_DIR)"
started=$SECONDS
cargo +nightly fuzz build --target-dir "$FUZZ_TARGET_DIR"
say "built in $((SECONDS - started)) s"
bin_dir="$FUZZ_TARGET_DIR/$host/release"

# The GGUF and safetensors targets write each input to a file: in memory, removed at the end.
scratch="$(mktemp -d -p "$([ -d /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")" vlm-fuzz.XXXXXX)"
trap 'rm -rf "$scratch"' EXIT
export VLM_FUZZ_SCRATCH="$scratch"

summary=()
failed=()
for t in "${targets[@]}"; do
  [ -d "fuzz/corpus/$t" ] || die "fuzz/corpus/$t: no seeds for target $t"
  mkdir -p "$GROWN/$t" "$ARTIFACTS/$t"
  say "$t: ${limit[*]}, $workers worker(s)"
  begun=$SECONDS
  status=0
  pids=()
  for w in $(seq 1 "$workers"); do
    log="$ARTIFACTS/$t.log"
    [ "$workers" -eq 1 ] || log="$ARTIFACTS/$t.$w.log"
    "$bin_dir/$t" "${limit[@]}" -seed="$w" -print_final_stats=1 -timeout=60 -rss_limit_mb=2048 \
      -artifact_prefix="$ARTIFACTS/$t/" "$GROWN/$t" "fuzz/corpus/$t" >"$log" 2>&1 &
    pids+=("$!")
  done
  for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
  runs=0
  for w in $(seq 1 "$workers"); do
    log="$ARTIFACTS/$t.log"
    [ "$workers" -eq 1 ] || log="$ARTIFACTS/$t.$w.log"
    n="$(awk '/stat::number_of_executed_units/ {print $NF}' "$log" | tail -1)"
    runs=$(( runs + ${n:-0} ))
  done
  line="$(printf '%-20s %12s executions %6s s' "$t" "$runs" "$((SECONDS - begun))")"
  if [ "$status" -ne 0 ]; then
    line="$line  FAILED (exit $status; logs: $ARTIFACTS/$t*.log)"
    failed+=("$t")
    cat "$ARTIFACTS/$t"*.log | grep -E '^(==[0-9]+==|SUMMARY|thread .* panicked|artifact_prefix|Test unit written)' | head -20 >&2 || true
  fi
  summary+=("$line")
done

say "executions per target:"
printf '  %s\n' "${summary[@]}"
[ ${#failed[@]} -eq 0 ] || die "failing targets: ${failed[*]} (inputs in fuzz/artifacts/)"
say "no crashes"
