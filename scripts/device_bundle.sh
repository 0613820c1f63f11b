#!/usr/bin/env bash
# One compressed file with dist/ and the benchmarks (bench/: benchmarks.jar and its lib/), small enough to carry to a
# GPU host through a transfer that limits its size (about 40 MB instead of ~70): the bundled JVM's debug symbols
# stripped, the test jar without its data fixtures (give run-gpu-tests `--class-path src/test/resources` from a
# checkout instead), and the kernels compiled for one GPU architecture only (default sm_90a: H100, H200, with the
# Hopper attention kernels; 80 for an A100).
#   scripts/device_bundle.sh OUT.tar.xz [SM]        (run from the repository root after mvn; needs nvcc, strip, zip)
# On the GPU host: tar -xJf OUT.tar.xz -C DIR, then DIR/dist/zotune, DIR/dist/run-gpu-tests, and
# java -cp "DIR/bench/benchmarks.jar:DIR/bench/lib/*:DIR/dist/lib/*" for the benchmarks.
set -euo pipefail
out=${1:?usage: scripts/device_bundle.sh OUT.tar.xz [SM]}
sm=${2:-90a}
[ -d dist/lib ] || { echo "device_bundle.sh: no dist/ (mvn -Pdist package -DskipTests first)" >&2; exit 2; }
[ -f benchmarks/target/benchmarks.jar ] \
  || { echo "device_bundle.sh: no benchmarks/target/benchmarks.jar (mvn -f benchmarks/pom.xml package first)" >&2; exit 2; }
for tool in nvcc strip zip tar; do
  command -v "$tool" > /dev/null || { echo "device_bundle.sh: $tool not found" >&2; exit 2; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bench" "$work/fat/org/zotune/native"
cp -a dist "$work/"
cp benchmarks/target/benchmarks.jar "$work/bench/"
cp -a benchmarks/target/lib "$work/bench/"
strip -g "$work/dist/runtime/lib/server/libjvm.so"
zip -q -d "$work/dist/test/zotune-tests.jar" 'fixtures/*' 'golden/*' 'lora-fixtures/*' 'encoder-fixtures/*' \
  'roberta-tokenizer/*' 'prefix-fixtures/*' || true
# one translation unit of every kernel file, as the CMake build compiles them, for one architecture
for f in native/kernels/*.cu; do echo "#include \"$PWD/$f\""; done > "$work/unity.cu"
(cd native && nvcc --fatbin -gencode "arch=compute_$sm,code=sm_$sm" -O3 -std=c++17 -lineinfo -Iinclude -Ikernels \
  -o "$work/fat/org/zotune/native/zotune.fatbin" "$work/unity.cu")
(cd "$work/fat" && zip -q "$work/dist/lib/zotune.jar" org/zotune/native/zotune.fatbin)
tar -cJf "$out" -C "$work" dist bench
ls -l "$out"
