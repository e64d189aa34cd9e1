#!/usr/bin/env bash
# device batch: issue 17 A/B (A=7af47f4, B=main, C=ab17 parity patch), issue 19 gemma3, issue 18 wide (D)
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json LD_LIBRARY_PATH=/usr/local/nvidia/lib64
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig
python3 -m pip install -q --no-index --no-deps --target /tmp/gb/site .wheels/dep/*.whl
for v in old:.wheels/old c:.ab/c; do n=${v%%:*}; d=${v#*:}; rm -rf /tmp/gb/$n; python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/gb/$n $d/*.whl; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
one() {  # path label args...
  local path=$1 label=$2; shift 2
  r=$(PYTHONPATH=$path timeout 200 python3 bench/gpu_bench.py --device webgpu --no-hf --json "$@" 2>/tmp/ab.err |
      python3 -c "import json, sys; d = json.load(sys.stdin); print({k: d.get(k) for k in ('prefill_tok_s', 'decode_tok_s', 'decode_path', 'device_notes')})")
  echo "$(date +%T) $label $*: $r"; [ -n "$r" ] || tail -3 /tmp/ab.err
}
A=/tmp/gb/old:/tmp/gb/site; B=$PWD/pkg:/tmp/gb/site; C=/tmp/gb/c:/tmp/gb/site; D=/tmp/gb/d:/tmp/gb/site
for round in 1 2; do for v in A B C; do eval p=\$$v; one $p $v --prompt 512 --decode 128; done; done
PYTHONPATH=$B timeout 200 python3 bench/arch_gpu_bench.py --arch gemma3 --prompt 512 --decode 128 --json 2>/tmp/g.err | tail -1 || tail -3 /tmp/g.err
one $B B-fused --shape llama32-1b --mix Q4_K_M --random-blocks --prompt 512 --decode 64
export WEBINFER_FUSED=off; one $B B-replayed --shape llama32-1b --mix Q4_K_M --random-blocks --prompt 512 --decode 64; unset WEBINFER_FUSED
for v in A B C; do eval p=\$$v; one $p $v --prompt 512 --decode 128; done
