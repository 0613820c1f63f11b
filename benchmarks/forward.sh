#!/usr/bin/env bash
# Times zotune's CUDA forward (JMH ForwardBenchmark) and Hugging Face's eager/sdpa forward on the same GPU
# in one run, then prints the RESULTS.md table. Run from the repo root on a GPU host that has the dist
# bundle (mvn -Pdist package) and the built benchmarks (mvn -f benchmarks/pom.xml package).
#   benchmarks/forward.sh [OUT_DIR] [extra JMH args, e.g. -p model=124M]
#   benchmarks/forward.sh --encoders [OUT_DIR]   (issue 12.8, ~7 minutes: fits one 10-minute device call)
#     BERT-base, BERT-large and RoBERTa-large shapes (random weights), batch 32x128 and 32x512, bf16 and fp32, the
#     body's hidden states and the MLM logits at every position: Hugging Face eager and sdpa (hf_forward.py
#     --encoders) then zotune (JMH EncoderForwardBench, one JVM per dtype and model so that a phase cut by its time
#     limit loses only its own rows), then report_forward.py --encoders. ENC_MODELS / ENC_DTYPES narrow the rows
#     (comma-separated, e.g. ENC_DTYPES=bf16); ENC_JVM_ARGS passes switches to zotune's JVMs (e.g.
#     ENC_JVM_ARGS=-Dzotune.cuda.flashF32=false for the unfused float32 attention).
set -euo pipefail
encoders=0
if [ "${1:-}" = "--encoders" ]; then
  encoders=1
  shift
fi
out=${1:-benchmarks/out}
shift || true
dist=${ZOTUNE_DIST:-dist}   # ZOTUNE_DIST / ZOTUNE_BENCH: where the bundle and the built benchmarks are
mkdir -p "$out"
# the JavaCPP CUDA presets load the host's toolkit libraries (libcudart, libcublas)
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  if [ -d "$d" ]; then export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"; fi
done
export PYTHONUNBUFFERED=1
if [ $encoders = 1 ]; then
  bench=${ZOTUNE_BENCH:-benchmarks/target}
  for f in "$dist/runtime/bin/java" "$bench/benchmarks.jar"; do
    [ -e "$f" ] || { echo "forward.sh: $f not found (ZOTUNE_DIST / ZOTUNE_BENCH)" >&2; exit 2; }
  done
  python3 -c "import torch, transformers" 2>/dev/null \
    || { echo "forward.sh --encoders: python3 lacks torch or transformers" >&2; exit 2; }
  models=${ENC_MODELS:-bert-base,bert-large,roberta-large}
  dtypes=${ENC_DTYPES:-bf16,fp32}
  rm -f "$out"/hf-enc.json "$out"/jmh-enc-*.json
  timeout 200 python3 benchmarks/hf_forward.py --encoders --out "$out/hf-enc.json" --sizes "$models" \
    --dtypes "$dtypes" --deadline 150 2>&1 | tee "$out/hf-enc.log" || echo "hf_forward.py: exit ${PIPESTATUS[0]}"
  cp="$bench/benchmarks.jar:$bench/lib/*:$dist/lib/*"
  for dt in ${dtypes//,/ }; do
    for m in ${models//,/ }; do
      if [ $SECONDS -gt 480 ]; then
        echo "zotune $m $dt: not run (forward.sh's time budget)" | tee -a "$out/jmh-enc.log"
        continue
      fi
      timeout 90 "$dist/runtime/bin/java" -cp "$cp" org.openjdk.jmh.Main 'org\.zotune\.bench\.EncoderForwardBench\.' \
        ${ENC_JVM_ARGS:+-jvmArgsAppend "$ENC_JVM_ARGS"} \
        -p model="$m" -p dtype="$dt" -rf json -rff "$out/jmh-enc-$dt-$m.json" 2>&1 | tee -a "$out/jmh-enc.log" \
        || echo "zotune $m $dt: exit ${PIPESTATUS[0]}" | tee -a "$out/jmh-enc.log"
    done
  done
  python3 benchmarks/report_forward.py --encoders "$out/hf-enc.json" "$out"/jmh-enc-*.json | tee "$out/table-enc.md"
  exit 0
fi
python3 benchmarks/hf_forward.py --out "$out/hf.json" 2>&1 | tee "$out/hf.log"
bench=${ZOTUNE_BENCH:-benchmarks/target}
cp="$bench/benchmarks.jar:$bench/lib/*:$dist/lib/*"
"$dist/runtime/bin/java" -cp "$cp" org.openjdk.jmh.Main ForwardBenchmark -rf json -rff "$out/jmh.json" "$@" \
  2>&1 | tee "$out/jmh.log"
python3 benchmarks/report_forward.py "$out/hf.json" "$out/jmh.json" | tee "$out/table.md"
