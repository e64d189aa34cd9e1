#!/usr/bin/env bash
# On the GPU machine, after call2.sh (or any call that left /tmp/gb/site): webinfer's native
# decode and prefill (CPython + wgpu-py, bench/gpu_bench.py: the synthetic SmolLM2-135M-shaped
# model, timed by each version's own webinfer.bench.run_bench, which every version has) of two
# versions of the package in turn, in one command, for before/after numbers on the same card:
#   A = $AB_OLD/webinfer-*.whl (default .gpu_browser/b/old) if the carry has one (put the wheel
#       of the version to compare against there), else the wheel gen_bench.sh installed in /tmp/gb/site
#   B = $AB_NEW/webinfer-*.whl if set and there, else the working tree's pkg/ (the carried checkout)
#   [ROUNDS=2] [AB_HF=1] bench/gpu_browser/native_ab.sh [PROMPTS...]   (default: 512 4000; 128 decode tokens each)
# wgpu-py comes from /tmp/gb/site, installed there from .wheels/dep or .gpu_browser/b/wheels if it
# is not yet. AB_HF=1: then B once more at the first prompt length with HF transformers' baseline
# (gpu_bench.py without --no-hf), for the ratio. The version timed is the webinfer first on
# PYTHONPATH (gpu_bench.py puts the checkout's pkg/ on sys.path only where PYTHONPATH has none).
set -u
prompts=("${@:-512 4000}"); [ $# -eq 0 ] && prompts=(512 4000)
export VK_DRIVER_FILES=${VK_ICD_JSON:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
export LD_LIBRARY_PATH=/usr/local/nvidia/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
a=/tmp/gb/site; b=$PWD/pkg:/tmp/gb/site     # (B finds wgpu-py in /tmp/gb/site, its webinfer first in pkg/)
PYTHONPATH=/tmp/gb/site python3 -c "import wgpu" 2>/dev/null ||
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/gb/site $(ls .wheels/dep/*.whl .gpu_browser/b/wheels/*.whl 2>/dev/null)
old=${AB_OLD:-.gpu_browser/b/old}
if ls $old/webinfer-*.whl >/dev/null 2>&1; then
  rm -rf /tmp/gb/old && python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/gb/old $old/webinfer-*.whl
  a=/tmp/gb/old:/tmp/gb/site
fi
new=${AB_NEW:-}
if [ -n "$new" ] && ls $new/webinfer-*.whl >/dev/null 2>&1; then
  rm -rf /tmp/gb/new && python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/gb/new $new/webinfer-*.whl
  b=/tmp/gb/new:/tmp/gb/site
fi
for round in $(seq "${ROUNDS:-2}"); do
  for p in "${prompts[@]}"; do
    for v in A B; do
      path=$a; [ $v = B ] && path=$b
      r=$(PYTHONPATH=$path timeout 240 python3 bench/gpu_bench.py --device webgpu --no-hf --json \
            --prompt "$p" --decode 128 2>/tmp/ab.err |
          python3 -c "import json, sys; d = json.load(sys.stdin); print({k: d[k] for k in ('prefill_tok_s', 'decode_tok_s', 'decode_path')})")
      echo "round $round prompt $p $v: $r"; [ -n "$r" ] || tail -3 /tmp/ab.err
    done
  done
done
if [ "${AB_HF:-0}" = 1 ]; then
  p=${prompts[0]}
  PYTHONPATH=$b timeout 300 python3 bench/gpu_bench.py --device webgpu --json \
      --prompt "$p" --decode 128 2>/tmp/ab.err |
    python3 -c "import json, sys; d = json.load(sys.stdin); print('B with HF baseline, prompt $p:', {k: d.get(k) for k in ('prefill_tok_s', 'decode_tok_s', 'decode_vs_hf', 'prefill_vs_hf', 'hf')})" ||
    tail -3 /tmp/ab.err
fi
