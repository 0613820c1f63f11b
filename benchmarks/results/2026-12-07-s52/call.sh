#!/usr/bin/env bash
# the fixed EvalHeadAdapterGpuTest and ReplayEncoderGpuTest (ReplayRuns now compares metadata) at the last commit
set -u
B=/tmp/b; rm -rf $B; mkdir -p $B /tmp/td $OUT/r
tar -xJf .carry/b54.tar.xz -C $B
tar -xJf .carry/td.tar.xz -C /tmp/td
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/r/gpu.txt
date -u +%FT%TZ | tee -a $OUT/r/gpu.txt
timeout 300 $B/dist/run-gpu-tests --data /tmp/td --class-path src/test/resources --select-class org.zotune.cli.EvalHeadAdapterGpuTest --select-class org.zotune.cli.ReplayEncoderGpuTest > $OUT/r/tests.txt 2>&1
echo "tests rc=$?"
sed -i 's/\x1b\[[0-9;]*m//g; s|/tmp/b/dist|dist|g; s|/tmp/td|DATA|g; s|/tmp/junit[0-9]*|TMP|g' $OUT/r/tests.txt
grep -E "head adapter|Model.export|✘|tests (successful|failed|found|aborted)" $OUT/r/tests.txt | cut -c1-220
date -u +%FT%TZ | tee -a $OUT/r/gpu.txt
