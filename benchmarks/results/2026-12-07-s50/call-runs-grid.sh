#!/usr/bin/env bash
# call D (after C, same machine): the head beside a prefix at higher rates (the C grid's top, 1e-2, was picked)
set -u
S=/tmp/stage; D=$S/data; M=$D/models/all-MiniLM-L6-v2; W=$S/work-head; mkdir -p $OUT/r
[ -f $M/model.safetensors ] && [ -d $W/runs ] || { echo "not staged"; exit 3; }
nvidia-cuda-mps-control -d && echo "MPS on"
date -u +%FT%TZ | tee $OUT/r/gpu.txt
ZOTUNE=$S/b/dist/zotune ZOTUNE_DATA=$D KS=16 PARALLEL=12 PHASES="sweep seeds" \
  METHODS="head-prefix-sgd head-prefix-adamu" PEFT_SGD_LRS="1e-4 1e-3 1e-2 3e-2 1e-1" PEFT_ADAMU_LRS="1e-4 1e-3 1e-2 3e-2 1e-1" \
  timeout 480 benchmarks/minilm/run.sh $W > $OUT/r/run2.log 2>&1; echo "run rc=$?" | tee -a $OUT/r/run2.log
date -u +%FT%TZ | tee -a $OUT/r/gpu.txt
echo quit | nvidia-cuda-mps-control
python3 benchmarks/minilm/report.py $W > $OUT/r/report2.md 2>&1
cat $OUT/r/report2.md
grep -E "FAILED" $OUT/r/run2.log | head
cd $S && tar -czf $OUT/r/runs2.tgz --exclude='*.safetensors' --exclude='model' --exclude='best' --exclude='checkpoint' work-head 2>/dev/null
