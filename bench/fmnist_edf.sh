#!/usr/bin/env bash
# The Fashion-MNIST design-space experiment (issue 23), in growing batches, space after space, each
# batch committed so nothing is lost across machines. Resumable: a sweep's finished trials are kept,
# so rerun this script (any TARGET) and it continues. Usage: bash bench/fmnist_edf.sh [TARGET [STEP]]
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-100}
step=${2:-10}
recipe=(--dataset fashion_mnist --image-size 28 --stem simple --flops 2M:4M --epochs 1 --batch-size 128
        --lr 0.2 --warmup-epochs 0.1 --no-augment --workers 2)
for ((n = step; n <= target; n += step)); do
  for space in anynetx_a regnet anynetx_e; do
    zoo sweep run "$space" --n "$n" "${recipe[@]}" --out "docs/data/fmnist-edf/$space"
    if [ -z "${NO_COMMIT:-}" ]; then
      flock /tmp/zoo-main.lock git add "docs/data/fmnist-edf/$space"
      flock /tmp/zoo-main.lock git commit -q -m "fmnist-edf: $space at $n trials" -- "docs/data/fmnist-edf/$space" || true
    fi
  done
done
