#!/usr/bin/env bash
# zotune's ZO step, two builds in one run: A ("before") and B ("after"), e.g. main before and after a redesign.
# Each row group (one model, dtype, shapes, variants) runs with A, then with B, then the next group, so that
# drift of the machine (clocks, temperature) spreads over both builds alike. Prints a table (benchmarks/
# report_ab.py): median ms per step with A and with B and their ratio B/A, per row.
#   benchmarks/step_ab.sh A_CLASSPATH B_CLASSPATH OUT_DIR [ROWS]
# A_CLASSPATH / B_CLASSPATH: the class path of each build's StepBench (its benchmarks.jar, the benchmarks' lib/*,
# and that build's dist/lib/*, zotune.jar included). ROWS: StepBench --rows groups separated by spaces (default:
# the zotune rows of step.sh --full, without the largest models). Needs the dist's Java runtime (ZOTUNE_DIST).
set -uo pipefail
if [ $# -lt 3 ]; then sed -n 2,9p "$0" >&2; exit 2; fi
a=$1; b=$2; out=$3; shift 3
here=$(cd "$(dirname "$0")" && pwd)
dist=${ZOTUNE_DIST:-dist}
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  if [ -d "$d" ]; then export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"; fi
done
G4="sgd-inplace-graph+sgd-shadow-graph+adamu-inplace-graph+adamu-shadow-graph"
G8="$G4+sgd-inplace-eager+sgd-shadow-eager+adamu-inplace-eager+adamu-shadow-eager"
if [ $# -gt 0 ]; then
  groups=("$@")
else
  groups=("gpt2-124M:bf16:16x128:$G8" "gpt2-355M:bf16:16x128:$G8" "gpt2-774M:bf16:16x128:$G8"
    "gpt2-1558M:bf16:16x128:$G8" "gpt2-124M:bf16:16x512:$G4,gpt2-355M:bf16:16x512:$G4"
    "gpt2-774M:bf16:16x512:$G4" "gpt2-1558M:bf16:16x512:$G4" "opt-1.3b:bf16:16x128:$G4"
    "opt-2.7b:bf16:16x128:$G4" "opt-6.7b:bf16:16x128:$G4"
    "gpt2-124M:fp16:16x128:$G4,gpt2-355M:fp16:16x128:$G4,gpt2-774M:fp16:16x128:$G4"
    "gpt2-1558M:fp16:16x128:$G4" "gpt2-124M:fp32:16x128+16x512:$G4")
fi
mkdir -p "$out"
rm -f "$out/a.jsonl" "$out/b.jsonl"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$out/gpu.txt" 2>/dev/null || true
date -u '+%Y-%m-%d %H:%M UTC' >> "$out/gpu.txt"
java="$dist/runtime/bin/java"
for g in "${groups[@]}"; do
  for side in a b; do
    cp=$a; [ $side = b ] && cp=$b
    timeout 120 "$java" -Xmx16g -XX:MaxDirectMemorySize=4g -cp "$cp" org.zotune.zo.cuda.StepBench \
      --out "$out/$side.jsonl" --deadline 100 --rows "$g" --warmup 3 --steps 20 --reps 5 >> "$out/$side.log" 2>&1
    echo "$side $g: exit $? after ${SECONDS}s"
  done
done
python3 "$here/report_ab.py" "$out/a.jsonl" "$out/b.jsonl" | tee "$out/table.md"
