#!/usr/bin/env bash
# call B: stage the first half of all-MiniLM-L6-v2's safetensors
set -u
mkdir -p /tmp/stage/ml
cp .carry/ml/p1/part.aa /tmp/stage/ml/
ls -la /tmp/stage /tmp/stage/ml
