#!/usr/bin/env bash
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json LD_LIBRARY_PATH=/usr/local/nvidia/lib64
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig
python3 -m pip install -q --no-index --no-deps --target /tmp/gb/site .wheels/dep/*.whl
rm -rf /tmp/gb/old; python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/gb/old .wheels/old/*.whl
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
one() {  # path label args...
  local path=$1 label=$2; shift 2
  r=$(PYTHONPATH=$path timeout 200 python3 bench/gpu_bench.py --device webgpu --no-hf --json "$@" 2>/tmp/ab.err |
      python3 -c "import json, sys; d = json.load(sys.stdin); print({k: d.get(k) for k in ('prefill_tok_s', 'decode_tok_s', 'decode_path', 'device_notes')})")
  echo "$(date +%T) $label $*: $r"; [ -n "$r" ] || tail -3 /tmp/ab.err
}
A=/tmp/gb/old:/tmp/gb/site; B=$PWD/pkg:/tmp/gb/site
for s in llama32-1b qwen25-05b; do
  one $B B-fused --shape $s --random-blocks --prompt 512 --decode 64
  export WEBINFER_FUSED=off; one $B B-replayed --shape $s --random-blocks --prompt 512 --decode 64; unset WEBINFER_FUSED
done
one $B B --shape llama32-1b --mix Q4_K_M --random-blocks --prompt 512 --decode 64
for v in A B; do eval p=\$$v; one $p $v --prompt 4000 --decode 128; done
for v in A B; do eval p=\$$v; one $p $v --prompt 512 --decode 128; done
PYTHONPATH=$B timeout 150 python3 bench/gpu_bench.py --device webgpu --json --shape llama32-1b --random-blocks --prompt 512 --decode 64 2>/dev/null | python3 -c "import json, sys; d = json.load(sys.stdin); print('1B default mix with HF:', {k: d.get(k) for k in ('decode_tok_s', 'decode_path', 'hf', 'decode_vs_hf')})"
