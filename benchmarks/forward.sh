#!/usr/bin/env bash
# Times zotune's CUDA forward (JMH ForwardBenchmark) and Hugging Face's eager/sdpa forward on the same GPU
# in one run, then prints the RESULTS.md table. Run from the repo root on a GPU host that has the dist
# bundle (mvn -Pdist package) and the built benchmarks (mvn -f benchmarks/pom.xml package).
#   benchmarks/forward.sh [OUT_DIR] [extra JMH args, e.g. -p model=124M]
set -euo pipefail
out=${1:-benchmarks/out}
shift || true
dist=${ZOTUNE_DIST:-dist}   # ZOTUNE_DIST / ZOTUNE_BENCH: where the bundle and the built benchmarks are
mkdir -p "$out"
# the JavaCPP CUDA presets load the host's toolkit libraries (libcudart, libcublas)
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  if [ -d "$d" ]; then export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"; fi
done
export PYTHONUNBUFFERED=1
python3 benchmarks/hf_forward.py --out "$out/hf.json" 2>&1 | tee "$out/hf.log"
bench=${ZOTUNE_BENCH:-benchmarks/target}
cp="$bench/benchmarks.jar:$bench/lib/*:$dist/lib/*"
"$dist/runtime/bin/java" -cp "$cp" org.openjdk.jmh.Main ForwardBenchmark -rf json -rff "$out/jmh.json" "$@" \
  2>&1 | tee "$out/jmh.log"
python3 benchmarks/report_forward.py "$out/hf.json" "$out/jmh.json" | tee "$out/table.md"
