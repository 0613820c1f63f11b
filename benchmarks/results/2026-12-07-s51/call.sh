#!/usr/bin/env bash
# the head-adapter eval on CUDA, then the whole GPU suite with the shared data (not MiniLM: checked at 14:58 UTC)
set -u
B=/tmp/b; rm -rf $B; mkdir -p $B /tmp/td $OUT/r
tar -xJf .carry/b53.tar.xz -C $B
tar -xJf .carry/td.tar.xz -C /tmp/td
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/r/gpu.txt
date -u +%FT%TZ | tee -a $OUT/r/gpu.txt
timeout 150 $B/dist/run-gpu-tests --data /tmp/td --class-path src/test/resources --select-class org.zotune.cli.EvalHeadAdapterGpuTest > $OUT/r/evalhead.txt 2>&1
echo "evalhead rc=$?"
sed 's/\x1b\[[0-9;]*m//g' $OUT/r/evalhead.txt | grep -E "head adapter|✘|tests (successful|failed|found|aborted)"
date -u +%FT%TZ | tee -a $OUT/r/gpu.txt
timeout 420 $B/dist/run-gpu-tests --data /tmp/td --class-path src/test/resources > $OUT/r/gpusuite.txt 2>&1
echo "suite rc=$?"
sed 's/\x1b\[[0-9;]*m//g' $OUT/r/gpusuite.txt | grep -E "✘|tests (successful|failed|found|aborted|skipped)|containers" | head -40
date -u +%FT%TZ | tee -a $OUT/r/gpu.txt
