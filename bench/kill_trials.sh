#!/usr/bin/env bash
# Kill -9 trials (docs/reliability.md): builds the release server if needed and runs
# bench/kill_trials.py against it. Arguments go to the script (--kills N, --seed S, --keep).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
bin="${CARGO_TARGET_DIR:-$ROOT/target}/release/vlm-inspect"
[ -x "$bin" ] || cargo build --release -p vlm-inspect
grep -m1 "model name" /proc/cpuinfo
python3 "$ROOT/bench/kill_trials.py" "$bin" "$@"
