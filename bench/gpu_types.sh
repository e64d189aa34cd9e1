#!/usr/bin/env bash
# On the GPU machine: webinfer's native decode and prefill (CPython + wgpu-py, bench/gpu_bench.py)
# of synthetic SmolLM2-135M-shaped models of each weight type (random blocks), in one command on one card, so the
# types compare in the same run; then (GPU_TYPES_BIG=1) a Llama-3.2-1B-shaped Q4_K_M model beside
# HF transformers eager on the same shapes.
#   [MIXES="default Q4_K_M ..."] [PROMPT=512] [DECODE=128] [GPU_TYPES_BIG=0|1] bash bench/gpu_types.sh
# wgpu-py comes from /tmp/gb/site (installed there from .wheels/dep if it is not yet), as in
# bench/gpu_browser/native_ab.sh; the webinfer timed is the checkout's pkg/.
set -u
export VK_DRIVER_FILES=${VK_ICD_JSON:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
export LD_LIBRARY_PATH=/usr/local/nvidia/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
if [ -d /usr/local/nvidia ] && ls .gl/*.deb >/dev/null 2>&1; then for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig; fi
PYTHONPATH=/tmp/gb/site python3 -c "import wgpu" 2>/dev/null ||
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/gb/site .wheels/dep/*.whl
export PYTHONPATH=$PWD/pkg:/tmp/gb/site
summary='import json, sys; d = json.load(sys.stdin); print({k: d.get(k) for k in ("mix", "shape", "prefill_tok_s", "decode_tok_s", "decode_path", "decode_vs_hf", "prefill_vs_hf", "device_notes")})'
for mix in ${MIXES:-default Q4_K_M Q5_K_M Q6_K Q8_0 Q4_0 Q5_0}; do
  arg=(); [ "$mix" = default ] || arg=(--mix "$mix")
  timeout 240 python3 bench/gpu_bench.py --device webgpu --no-hf --json --random-blocks --prompt "${PROMPT:-512}" \
      --decode "${DECODE:-128}" "${arg[@]}" 2>/tmp/gt.err | python3 -c "$summary" || tail -3 /tmp/gt.err
done
if [ "${GPU_TYPES_BIG:-0}" = 1 ]; then
  timeout 420 python3 bench/gpu_bench.py --device webgpu --json --shape llama32-1b --mix Q4_K_M --random-blocks \
      --prompt "${PROMPT:-512}" --decode "${DECODE:-128}" 2>/tmp/gt.err | python3 -c "$summary; print(d.get('hf'))" ||
    tail -3 /tmp/gt.err
fi
