#!/usr/bin/env bash
# The CUDA paths of the suite on one GPU node, in one short script (a few minutes on one H200):
#   1. `repro estimate` of the paper's config (4x1000 LSTMs, 160k/80k vocabularies, bf16) on CUDA:
#      training steps, a validation pass, a checkpoint and beam search timed at full size;
#   2. `repro train` with the paper's model and optimizer (paper.yaml's model: and train: sections) on a
#      prepared corpus, bf16 autocast on CUDA, for a few hundred steps: tokens/s from run.json;
#   3. `repro translate` with that run on CUDA (bf16, beam 12) and `repro score`;
#   4. `repro train` of the Multi30k recipe (multi30k.yaml) on CUDA for a few hundred steps: tokens/s;
#   5. `torchrun --nproc_per_node 2 -m repro.cli train` (DDP): NCCL when the node has two GPUs, else gloo
#      on the node's CPU (NCCL refuses two ranks on one GPU).
# Each step has its own time limit, so one failure leaves the others' numbers. Ends with one JSON line.
#
#   bash benchmarks/gpu_check.sh DATA_DIR OUT_DIR     # DATA_DIR from `repro prepare`, e.g. work/multi30k/data
set -u -o pipefail
data=${1:?usage: gpu_check.sh DATA_DIR OUT_DIR}
out=${2:?usage: gpu_check.sh DATA_DIR OUT_DIR}
steps=${GPU_CHECK_STEPS:-300}
device=${GPU_CHECK_DEVICE:-cuda}  # cpu: a dry run of the script itself on a machine without a GPU
mkdir -p "$out"
runs=$(mktemp -d)
status() { echo "== $1: exit $2"; echo "\"$1\": $2," >> "$runs/status"; }

echo "config: data=$data steps=$steps device=$device python=$(python3 -c 'import sys; print(sys.version.split()[0])')"
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda,
  torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU", "gpus", torch.cuda.device_count())'

if [ "$device" = cuda ]; then
  timeout 120 python3 -m repro.cli estimate --config workflows/config/paper.yaml --device cuda --steps 20 \
    --no-startup-timing --quiet --json "$out/paper-estimate.json"
  status estimate_paper $?
fi

timeout 120 python3 -m repro.cli train --config workflows/config/paper.yaml --data "$data" --out "$runs/paper" \
  --set train.device=$device --set train.max_steps="$steps" --set train.progress=false
status train_paper $?
cp "$runs/paper/run.json" "$out/paper-run.json" 2>/dev/null

start=$(date +%s.%N)
timeout 60 python3 -m repro.cli translate --model "$runs/paper" --set decode.device=$device --set decode.bf16=true \
  --set decode.batch_size=64 --beam 12 --quiet --input "$data/test.raw.src" --output "$out/paper-test-beam12.txt"
status translate_paper $?
echo "translate seconds: $(python3 -c "import time; print(round(time.time() - $start, 1))")" | tee "$out/translate-seconds.txt"
timeout 30 python3 -m repro.cli score --hyp "$out/paper-test-beam12.txt" --ref "$data/test.raw.tgt" \
  | tee "$out/paper-test-beam12.score"
status score_paper $?

timeout 60 python3 -m repro.cli train --config workflows/config/multi30k.yaml --data "$data" --out "$runs/multi30k" \
  --set train.device=$device --set train.max_steps="$steps" --set train.progress=false
status train_multi30k $?
cp "$runs/multi30k/run.json" "$out/multi30k-run.json" 2>/dev/null

gpus=$(python3 -c 'import torch; print(torch.cuda.device_count())')
ddp_device=$([ "$device" = cuda ] && [ "$gpus" -ge 2 ] && echo cuda || echo cpu)
timeout 60 torchrun --standalone --nproc_per_node 2 -m repro.cli train --config workflows/config/multi30k.yaml \
  --data "$data" --out "$runs/ddp" --set train.device="$ddp_device" --set train.max_steps=40 \
  --set train.progress=false --set train.bf16=false
status "ddp_2proc_$ddp_device" $?
cp "$runs/ddp/run.json" "$out/ddp-run.json" 2>/dev/null

python3 - "$out" "$runs/status" <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
headline = {"exit": json.loads("{" + Path(sys.argv[2]).read_text().rstrip().rstrip(",") + "}")}
for name in ("paper", "multi30k", "ddp"):
    path = out / f"{name}-run.json"
    if path.is_file():
        run = json.loads(path.read_text())
        headline[name] = {key: run.get(key) for key in ("device", "bf16", "world_size", "parameters", "step",
                                                          "tokens_per_s", "wall_time_s", "best_valid_ppl")}
print(json.dumps(headline))
EOF
