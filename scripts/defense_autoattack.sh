#!/bin/bash
# Every defense of the README's defenses table under AutoAttack at the paper's full budgets, first 100 test images,
# ε = 0.1, 0.2, 0.3, one thread, one run after another (about 1.5 h on a 2-core CPU). The distilled model and the
# second ensemble member are trained first when OUT has none.
#   bash scripts/defense_autoattack.sh ../shared/mnist /tmp/defaa
set -eu
M=${1:?MNIST folder}
D=${2:?output folder}
mkdir -p "$D"
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1
run() { name=$1; shift; /usr/bin/time -f "%e s" .venv/bin/python -m advstudio "$@" > "$D/$name.log" 2>&1; }
[ -f "$D/distilled.safetensors" ] || run distill distill --data "$M" --out "$D/distilled.safetensors" --temperature 100 --epochs 2
[ -f "$D/B.safetensors" ] || run trainB train --data "$M" --seed 1 --out "$D/B.safetensors"
aa="--attack autoattack --eps 0.1,0.2,0.3 --limit 100"
run distillation defend --data "$M" --defense distillation --model "$D/distilled.safetensors" $aa --json-out "$D/distillation.json"
run ensemble defend --data "$M" --defense ensemble --models advstudio/resources/mnist_cnn.safetensors "$D/B.safetensors" --transfer-from 0 $aa --json-out "$D/ensemble.json"
run gaussian_noise defend --data "$M" --defense gaussian_noise --sigma 0.3 $aa --json-out "$D/gaussian_noise.json"
run median defend --data "$M" --defense median --size 3 $aa --json-out "$D/median.json"
run jpeg defend --data "$M" --defense jpeg --quality 50 $aa --json-out "$D/jpeg.json"
run bit_depth defend --data "$M" --defense bit_depth --bits 2 $aa --json-out "$D/bit_depth.json"
