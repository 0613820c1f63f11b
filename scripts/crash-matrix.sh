#!/usr/bin/env bash
# The crash matrix at random points, for longer than CI allows (issue 16; CrashMatrixTest is the fixed CI variant).
# usage: scripts/crash-matrix.sh CONFIG ROUNDS [WORKDIR] [DEVICE]
#   CONFIG: a train YAML (its out key is replaced); DEVICE: cpu (default) or cuda (on the GPU host)
#   ZOTUNE: the launcher (default ./zotune, which builds the checkout; on the GPU host, which has no Maven, the dist
#           bundle's: ZOTUNE=dist/zotune)
# Trains CONFIG once uninterrupted, then ROUNDS times: starts the run, kills it with SIGKILL after a random delay or
# halts it inside a random atomic write (-Dzotune.test.haltAtWrite=N), and continues it (--resume; a rerun or
# --overwrite when it holds no checkpoint yet), killing again at random, until it completes; then compares every
# loss of metrics.jsonl, trajectory.jsonl, model/ and best/ weights' bytes and summary.json (but "seconds") with the
# uninterrupted run. Prints one line per round; exits 1 at the first difference (the run folders are kept).
set -euo pipefail
cd "$(dirname "$0")/.."
config=$1
rounds=$2
work=${3:-target/crash-matrix}
device=${4:-cpu}
mkdir -p "$work"
launcher=${ZOTUNE:-./zotune}
"$launcher" --version >/dev/null # build first, so that no kill lands in the build
zt() { "$launcher" train --config "$config" --device "$device" --no-progress "$@"; }

rm -rf "$work/reference"
start=$(date +%s%N)
zt --out "$work/reference" >/dev/null 2>"$work/reference.err"
duration_ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "reference run: ${duration_ms} ms"

compare() {
  python3 - "$1" "$2" <<'PY'
import json, sys, pathlib
a, b = (pathlib.Path(p) for p in sys.argv[1:3])
def metrics(d):
    out = []
    for line in (d / "metrics.jsonl").read_text().splitlines():
        o = json.loads(line); o.pop("elapsed_s", None); out.append(o)
    return out
def summary(d):
    o = json.loads((d / "summary.json").read_text()); o.pop("seconds", None); o.pop("out", None); return o
def trajectory(d): # the header's config names the run folder
    lines = [json.loads(line) for line in (d / "trajectory.jsonl").read_text().splitlines()]
    lines[0]["config"].pop("out", None)
    return lines
checks = [("metrics.jsonl", metrics), ("summary.json", summary), ("trajectory.jsonl", trajectory),
          ("model/model.safetensors", lambda d: (d / "model/model.safetensors").read_bytes()),
          ("best/model.safetensors", lambda d: (d / "best/model.safetensors").read_bytes()
              if (d / "best/model.safetensors").exists() else None)]
bad = [n for n, f in checks if f(a) != f(b)]
tmp = [str(p) for p in b.rglob("*.tmp")]
if bad or tmp:
    print("DIFFERENT: " + ", ".join(bad) + (" temporary files left: " + " ".join(tmp) if tmp else ""))
    sys.exit(1)
PY
}

for ((r = 1; r <= rounds; r++)); do
  run="$work/round-$r"
  rm -rf "$run"
  kills=0
  flags=()
  while true; do
    if (( RANDOM % 2 )); then # halt inside a random atomic write (a run has a few dozen)
      point=$(( RANDOM % 40 + 1 ))
      set +e
      JAVA_OPTS="-Dzotune.test.haltAtWrite=$point" ZOTUNE_JAVA_OPTS="-Dzotune.test.haltAtWrite=$point" zt --out "$run" "${flags[@]}" >/dev/null 2>"$run.err"
      rc=$?
      set -e
    else # SIGKILL after a random delay
      delay_ms=$(( RANDOM % (duration_ms + 1) ))
      # not through zt: $! must be the launcher itself, which execs the JVM
      "$launcher" train --config "$config" --device "$device" --no-progress --out "$run" "${flags[@]}" \
        >/dev/null 2>"$run.err" &
      pid=$!
      sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
      kill -KILL "$pid" 2>/dev/null || true # the launcher execs the JVM: this is the JVM
      set +e
      wait "$pid"
      rc=$?
      set -e
    fi
    if (( rc == 0 )); then
      break
    fi
    kills=$((kills + 1))
    if grep -q "holds no checkpoint to resume" "$run.err"; then
      flags=(--overwrite)
      [ -f "$run/run.json" ] || flags=()
    elif (( rc == 2 )); then
      echo "round $r: refused: $(grep '^zotune:' "$run.err")"
      exit 1
    else
      flags=(--resume)
      [ -f "$run/checkpoint/latest.json" ] || { flags=(--overwrite); [ -f "$run/run.json" ] || flags=(); }
    fi
  done
  if ! compare "$work/reference" "$run"; then
    echo "round $r: after $kills kills: see $run"
    exit 1
  fi
  echo "round $r: $kills kills, identical"
  rm -rf "$run" "$run.err"
done
