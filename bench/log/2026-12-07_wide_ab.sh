#!/usr/bin/env bash
# device batch 2: the wide fused step on 1B / 0.5B shapes (fused vs replayed), embeddings vs HF
# Needs, carried: .gl and .wheels/dep (the run recipe), .wheels/old (the 7af47f4 wheel), and .ab/minilm
# (config.json, tokenizer.json, sentence_bert_config.json and 1_Pooling/ of all-MiniLM-L6-v2 from the cache).
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
one $B B-fused --shape llama32-1b --random-blocks --prompt 512 --decode 64
export WEBINFER_FUSED=off; one $B B-replayed --shape llama32-1b --random-blocks --prompt 512 --decode 64; unset WEBINFER_FUSED
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
PYTHONPATH=$B timeout 200 python3 bench/embed_bench.py --model /tmp/minilm_rand --devices webgpu --batch 1 32 --hf 2>/tmp/e.err | tail -1 || tail -5 /tmp/e.err
