#!/usr/bin/env bash
# call C: join the model; MiniLmReferenceTest (CUDA f32 vs ONNX Runtime), zotune embed on CUDA against
# reference.json, zotune eval of the zero-shot label similarity on the 872 GLUE dev sentences (CUDA)
set -u
S=/tmp/stage; D=$S/data; M=$D/models/all-MiniLM-L6-v2; mkdir -p $M $OUT/r
cp .carry/ml/p2/part.ab $S/ml/
cat $S/ml/part.aa $S/ml/part.ab > $M/model.safetensors
cp .carry/ml/p2/{config.json,tokenizer.json,reference.json} $M/
(cd $M && sha256sum model.safetensors) | tee $OUT/r/sha.txt
grep -q "$(cat .carry/ml/p2/sha)" $OUT/r/sha.txt || { echo "sha mismatch"; exit 1; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/r/gpu.txt
date -u +%FT%TZ | tee -a $OUT/r/gpu.txt
Z=$S/b/dist/zotune
timeout 150 $S/b/dist/run-gpu-tests --data $D --class-path $S/testres --select-class org.zotune.model.bert.MiniLmReferenceTest > $OUT/r/minilm-test.txt 2>&1; echo "minilm test rc=$?" | tee -a $OUT/r/minilm-test.txt
sed 's/\x1b\[[0-9;]*m//g' $OUT/r/minilm-test.txt | grep -E "ONNX|max \||tests (successful|failed|found|aborted)|rc="
python3 -c "
import json; d=json.load(open('$M/reference.json'))
open('$S/sent.txt','w').write('\n'.join(d['sentences'])+'\n')"
date -u +%FT%TZ | tee -a $OUT/r/gpu.txt
timeout 120 $Z embed --model $M --text-file $S/sent.txt --pooling mean --normalize --device cuda --out $OUT/r/embed.jsonl > $OUT/r/embed.log 2>&1; echo "embed rc=$?" | tee -a $OUT/r/embed.log
python3 - <<PY | tee $OUT/r/embed-check.txt
import json
ref = json.load(open('$M/reference.json'))['mean_pooled_normalised']
got = [json.loads(l)['embedding'] for l in open('$OUT/r/embed.jsonl')]
worst = max(abs(g - w) for gr, wr in zip(got, ref) for g, w in zip(gr, wr))
print('zotune embed --device cuda vs ONNX Runtime: %d of %d sentences, %d dims, max |err| %.3g' % (len(got), len(ref), len(got[0]), worst))
PY
date -u +%FT%TZ | tee -a $OUT/r/gpu.txt
timeout 200 $Z eval --model $M --format sst2 --data $D/datasets/sst2-glue/dev.tsv --template sst2 --objective similarity --device cuda > $OUT/r/eval.txt 2>&1; echo "eval rc=$?" | tee -a $OUT/r/eval.txt
tail -4 $OUT/r/eval.txt
date -u +%FT%TZ | tee -a $OUT/r/gpu.txt
