#!/usr/bin/env bash
# device batch 3: atomic `act` (fused_arena.wgsl), B = with gdot32x4 (the working tree), A = without (.ab/a:
# the groupwise loop one group an iteration): the types against Q4_1 alternated; Qwen2.5-0.5B shapes beside HF
# eager. Carried: .gl, .wheels/dep, .ab/a.
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json LD_LIBRARY_PATH=/usr/local/nvidia/lib64
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig
python3 -c "import sys; sys.path.insert(0, '/tmp/gb/site'); import wgpu" 2>/dev/null || python3 -m pip install -q --no-index --no-deps --target /tmp/gb/site .wheels/dep/*.whl
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
A=$PWD/.ab/a/pkg:/tmp/gb/site; B=$PWD/pkg:/tmp/gb/site; export PYTHONPATH=$B
S='import json, sys; d = json.load(sys.stdin); print({k: d.get(k) for k in ("prefill_tok_s", "decode_tok_s", "decode_path", "device_notes", "hf", "decode_vs_hf")})'
one() {  # label args...
  local label=$1; shift
  r=$(timeout ${T:-120} python3 bench/gpu_bench.py --device webgpu --json --random-blocks ${HF:---no-hf} "$@" 2>/tmp/ab.err | python3 -c "$S")
  echo "$(date +%T) $label $*: $r"; [ -n "$r" ] || tail -3 /tmp/ab.err
}
one warmup --prompt 128 --decode 64 >/dev/null
for i in 1 2; do
  one B-Q4_1 --prompt 512 --decode 256
  for m in Q4_K_M Q5_K_M Q6_K; do PYTHONPATH=$A one A-$m --mix $m --prompt 512 --decode 256; one B-$m --mix $m --prompt 512 --decode 256; done
done
for m in Q8_0 Q2_K IQ4_XS Q4_1; do one B-$m --mix $m --prompt 512 --decode 256; done
T=240 HF=" " one qwen --shape qwen25-05b --mix Q4_K_M --prompt 512 --decode 128
