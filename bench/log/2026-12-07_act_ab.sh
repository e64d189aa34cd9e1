#!/usr/bin/env bash
# device batch: how the fused step reads `act` (WEBINFER_FUSED_ACT: plain | atomic | retry), on Q4_1 and the
# K-quant mixes (SmolLM2 shapes) and a Llama-3.2-1B-shaped Q4_K_M model; then MiniLM embeddings vs HF.
# Carried: .gl, .wheels/dep, .ab/minilm (config, tokenizer and pooling of all-MiniLM-L6-v2).
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json LD_LIBRARY_PATH=/usr/local/nvidia/lib64
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig
python3 -m pip install -q --no-index --no-deps --target /tmp/gb/site .wheels/dep/*.whl
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
export PYTHONPATH=$PWD/pkg:/tmp/gb/site
one() {  # label args...
  local label=$1; shift
  r=$(timeout ${T:-120} python3 bench/gpu_bench.py --device webgpu --no-hf --json --random-blocks "$@" 2>/tmp/ab.err |
      python3 -c "import json, sys; d = json.load(sys.stdin); print({k: d.get(k) for k in ('prefill_tok_s', 'decode_tok_s', 'decode_path', 'device_notes')})")
  echo "$(date +%T) $label $*: $r"; [ -n "$r" ] || tail -3 /tmp/ab.err
}
for v in plain retry atomic retry-plain; do
  WEBINFER_FUSED_ACT=$v one $v --prompt 128 --decode 128
  WEBINFER_FUSED_ACT=$v one $v --mix Q4_K_M --prompt 128 --decode 128
done
for v in plain retry; do WEBINFER_FUSED_ACT=$v one $v --prompt 128 --decode 128; done
for v in retry; do WEBINFER_FUSED_ACT=$v one $v --mix Q5_K_M --prompt 128 --decode 128; WEBINFER_FUSED_ACT=$v one $v --mix Q8_0 --prompt 128 --decode 128; done
WEBINFER_FUSED_ACT=retry T=200 one retry --shape llama32-1b --mix Q4_K_M --prompt 128 --decode 64
