#!/usr/bin/env bash
# DFO-LoRA on the CPU in the article's setting, scaled to a small machine: all-MiniLM-L6-v2, SST-2 16-shot (LM-BFF
# seed 13), label similarity ("It was terrible." / "It was great.", mean pooling, tau 0.05), D = 500, r = 4,
# lambda = 20, the run's default optimiser and schedule (alternate, layers). Prints one line per generation and a
# summary line: training loss, dev (32) and test (872) accuracy of the base model and of the result, seconds.
# Needs the shared data (models/all-MiniLM-L6-v2, datasets/lm-bff-k-shot) where the tests find it.
#   benchmarks/dfo_minilm_cpu.sh [BUDGET [OPTIMIZER]]   (defaults 480: 4 generations per layer; alternate)
set -euo pipefail
budget=${1:-480}
optimizer=${2:-alternate}
mvn -B -q test -Dzotune.skipNative=true -Dtest=MiniLmDfoMeasureTest -Dsurefire.failIfNoSpecifiedTests=false \
    -Dzotune.measure=true -Dzotune.dfo.budget="$budget" -Dzotune.dfo.optimizer="$optimizer"
