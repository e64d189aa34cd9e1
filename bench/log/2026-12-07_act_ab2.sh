#!/usr/bin/env bash
# device batch 2: plain vs atomic `act` loads (WEBINFER_FUSED_ACT) on Q4_1 alternated; every type with atomic
# loads; Llama-3.2-1B shapes with atomic loads (fused, beside HF eager); MiniLM embeddings vs HF.
# Carried: .gl, .wheels/dep, .ab/minilm.
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json LD_LIBRARY_PATH=/usr/local/nvidia/lib64
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig
python3 -m pip install -q --no-index --no-deps --target /tmp/gb/site .wheels/dep/*.whl
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
export PYTHONPATH=$PWD/pkg:/tmp/gb/site
S='import json, sys; d = json.load(sys.stdin); print({k: d.get(k) for k in ("prefill_tok_s", "decode_tok_s", "decode_path", "device_notes", "hf", "decode_vs_hf")})'
one() {  # label args...
  local label=$1; shift
  r=$(timeout ${T:-120} python3 bench/gpu_bench.py --device webgpu --json --random-blocks ${HF:---no-hf} "$@" 2>/tmp/ab.err | python3 -c "$S")
  echo "$(date +%T) $label $*: $r"; [ -n "$r" ] || tail -3 /tmp/ab.err
}
WEBINFER_FUSED_ACT=plain one warmup --prompt 128 --decode 64 >/dev/null
for i in 1 2 3; do for v in plain atomic; do WEBINFER_FUSED_ACT=$v one $v --prompt 512 --decode 256; done; done
for m in Q4_K_M Q5_K_M Q6_K Q8_0 Q5_0 Q2_K Q4_0 IQ4_NL IQ4_XS; do WEBINFER_FUSED_ACT=atomic one atomic --mix $m --prompt 512 --decode 256; done
WEBINFER_FUSED_ACT=atomic one atomic --prompt 512 --decode 256
WEBINFER_FUSED_ACT=atomic T=240 HF=" " one atomic --shape llama32-1b --mix Q4_K_M --prompt 512 --decode 128
WEBINFER_FUSED_ACT=atomic T=200 one atomic --shape qwen25-05b --mix Q4_K_M --prompt 512 --decode 128
python3 - <<'PY'
import shutil, torch
from transformers import BertConfig, BertModel
torch.manual_seed(0)
m = BertModel(BertConfig.from_json_file('.ab/minilm/config.json'))
m.save_pretrained('/tmp/minilm_rand')
for f in ('tokenizer.json', 'sentence_bert_config.json'):
    shutil.copy('.ab/minilm/' + f, '/tmp/minilm_rand/' + f)
shutil.copytree('.ab/minilm/1_Pooling', '/tmp/minilm_rand/1_Pooling', dirs_exist_ok=True)
PY
echo "$(date +%T) embeddings (MiniLM shapes, random weights):"
timeout 150 python3 bench/embed_bench.py --model /tmp/minilm_rand --devices webgpu --batch 1 32 --hf 2>/tmp/e.err | tail -4 || tail -5 /tmp/e.err
