#!/usr/bin/env bash
# call A: stage the bundle, the data sets and the test resources in /tmp/stage; the prefix adapters against peft;
# the GPU tests of the prefix + head change
set -u
S=/tmp/stage; rm -rf $S; mkdir -p $S/b $S/data $OUT/r
tar -xJf .carry/b51.tar.xz -C $S/b
tar -xJf .carry/td.tar.xz -C $S/data
cp -r src/test/resources $S/testres
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/r/gpu.txt
date -u +%FT%TZ | tee -a $OUT/r/gpu.txt
P=.carry/pp
timeout 120 python3 scripts/check_prefix_peft.py --base $P/base --seq-cls $P/head --prefix $P/sim --texts $P/texts.txt \
  --embeddings $P/emb-sim.jsonl > $OUT/r/peft-check.txt 2>&1; echo "peft check rc=$?" | tee -a $OUT/r/peft-check.txt
grep -v Warning $OUT/r/peft-check.txt | tail -8
date -u +%FT%TZ | tee -a $OUT/r/gpu.txt
timeout 300 $S/b/dist/run-gpu-tests --data $S/data --class-path $S/testres \
  --select-class org.zotune.cli.ReplayEncoderGpuTest --select-class org.zotune.train.EncoderObjectivesGpuTest \
  --select-class org.zotune.train.PrefixCudaGpuTest > $OUT/r/gputests.txt 2>&1; echo "tests rc=$?" | tee -a $OUT/r/gputests.txt
sed 's/\x1b\[[0-9;]*m//g' $OUT/r/gputests.txt | grep -E "prefix/|✘|tests (successful|failed|found|aborted)|rc=" | head -30
date -u +%FT%TZ | tee -a $OUT/r/gpu.txt
