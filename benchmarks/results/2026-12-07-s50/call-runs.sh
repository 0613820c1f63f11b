#!/usr/bin/env bash
# call C: join the model; SST-2 k = 16 objective head: full, beside LoRA, beside a prefix (ZO-SGD, ZO-AdaMU), the
# rate of each picked on seed 13's dev, then seeds 21 and 42 at it; report
set -u
S=/tmp/stage; D=$S/data; M=$D/models/all-MiniLM-L6-v2; mkdir -p $M $OUT/r
cp .carry/ml/p2/part.ab $S/ml/
cat $S/ml/part.aa $S/ml/part.ab > $M/model.safetensors
cp .carry/ml/p2/{config.json,tokenizer.json,reference.json} $M/
(cd $M && sha256sum model.safetensors) | tee $OUT/r/sha.txt
grep -q "$(cat .carry/ml/p2/sha)" $OUT/r/sha.txt || { echo "sha mismatch"; exit 1; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/r/gpu.txt
nvidia-cuda-mps-control -d && echo "MPS on" | tee -a $OUT/r/gpu.txt
date -u +%FT%TZ | tee -a $OUT/r/gpu.txt
tar -xJf .carry/kshot.tar.xz -C $D
W=$S/work-head; rm -rf $W
ZOTUNE=$S/b/dist/zotune ZOTUNE_DATA=$D KS=16 PARALLEL=12 PHASES="sweep seeds" \
  METHODS="head-sgd head-adamu head-lora-sgd head-lora-adamu head-prefix-sgd head-prefix-adamu" \
  timeout 480 benchmarks/minilm/run.sh $W > $OUT/r/run.log 2>&1; echo "run rc=$?" | tee -a $OUT/r/run.log
date -u +%FT%TZ | tee -a $OUT/r/gpu.txt
echo quit | nvidia-cuda-mps-control
python3 benchmarks/minilm/report.py $W > $OUT/r/report.md 2>&1
cat $OUT/r/report.md
grep -c "^done" $OUT/r/run.log; grep -E "FAILED" $OUT/r/run.log | head
cd $S && tar -czf $OUT/r/runs.tgz --exclude='*.safetensors' --exclude='model' --exclude='best' --exclude='checkpoint' work-head 2>/dev/null
ls -la $OUT/r
