#!/usr/bin/env bash
# device batch 4: decode tok/s with and without a grammar constraint on WebGPU (the bit mask on the GPU),
# replayed and fused (bench/grammar_gpu_bench.py), then Q4_1 free decoding for reference. Carried: .gl, .wheels/dep.
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json LD_LIBRARY_PATH=/usr/local/nvidia/lib64
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig
python3 -c "import sys; sys.path.insert(0, '/tmp/gb/site'); import wgpu" 2>/dev/null || python3 -m pip install -q --no-index --no-deps --target /tmp/gb/site .wheels/dep/*.whl
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
export PYTHONPATH=$PWD/pkg:/tmp/gb/site
date +%T; timeout 420 python3 bench/grammar_gpu_bench.py --decode 128 --prompt 64 --repeat 3 --sample 2>&1 | tail -40
date +%T; timeout 100 python3 bench/gpu_bench.py --device webgpu --json --random-blocks --no-hf --prompt 512 --decode 256 2>/dev/null | python3 -c "import json, sys; d = json.load(sys.stdin); print({k: d.get(k) for k in ('prefill_tok_s', 'decode_tok_s', 'decode_path', 'device_notes')})"
