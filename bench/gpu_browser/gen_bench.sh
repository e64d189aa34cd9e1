#!/usr/bin/env bash
# webinfer's greedy generation on one model, native (CPython + wgpu-py) and in headless Chromium
# (Pyodide + the browser's WebGPU), in one command, on the same prompt ids; prints both results
# and whether the generated ids agree.
#
#   gen_bench.sh VARIANT OUTDIR [BROWSER_DEVICE...]     (run from the repo root; default: webgpu)
#
# Needs: CHROME, LD_LIBRARY_PATH, VK_ICD_JSON (source /tmp/gb/env.sh); GB_SITE, a folder with
# pyodide/ (the site's Pyodide dist) and wheels/ (the webinfer wheel); GB_WHEELS, a folder of
# cp312 wheels for CPython (wgpu, cffi, pycparser); GEN_QUERY (default prompt=512&decode=128).
# VARIANT is one of flags.sh's. The model: $GB_MODEL, or the synthetic SmolLM2-135M-shaped one
# that tests/synthetic_model.py builds here (random weights; the 98 MB real model does not travel).
# Browser devices other than webgpu (numpy) run with BROWSER_QUERY_<device> if set.
set -u
variant=$1; outdir=$2; shift 2
devices=("${@:-webgpu}"); [ $# -eq 0 ] && devices=(webgpu)
here=$(cd "$(dirname "$0")" && pwd)
. "$here/flags.sh"
variant_flags "$variant" "$CHROME" || { echo "unknown variant $variant"; exit 2; }
mkdir -p "$outdir"
gb=${GB:-/tmp/gb}; py=$gb/site; www=$gb/www; mkdir -p $py $www/model
wheel=$(ls "$GB_SITE"/wheels/webinfer-*.whl | head -1)
python3 -m pip install -q --no-index --no-deps --no-compile --target $py "$wheel" "$GB_WHEELS"/*.whl || exit 3
export PYTHONPATH=$py
model=${GB_MODEL:-$www/model/synthetic.gguf}
if [ ! -f "$model" ]; then
  t0=$(date +%s.%N)
  python3 -c "import sys; sys.path.append(sys.argv[2]); from synthetic_model import build_synthetic_model as b; b(sys.argv[1])" \
    "$model" "$here/../../tests" || exit 3
  echo "synthetic model built in $(python3 -c "print(round($(date +%s.%N)-$t0,1))") s: $(du -h "$model" | cut -f1)"
fi
[ "$model" = "$www/model/$(basename "$model")" ] || ln -sf "$model" "$www/model/"
ln -sfn "$GB_SITE/pyodide" $www/pyodide; ln -sfn "$(dirname "$wheel")" $www/wheels
cp "$here/bench.html" "$here/gen_bench.py" $www/
q=${GEN_QUERY:-prompt=512&decode=128}
args=$(python3 -c "import sys, urllib.parse as u; d=dict(u.parse_qsl(sys.argv[1])); print('--prompt', d.get('prompt', 512), '--decode', d.get('decode', 128), '--repeats', d.get('repeats', 2))" "$q")
echo "== native (CPython $(python3 -V | cut -d' ' -f2), wgpu-py)"
VK_DRIVER_FILES=$VK_ICD_JSON timeout 300 python3 "$here/gen_bench.py" "$model" --device webgpu $args \
  > "$outdir/native.json" 2> "$outdir/native.log"; tail -3 "$outdir/native.log"
for dev in "${devices[@]}"; do
  qv=BROWSER_QUERY_$dev; dq=${!qv:-$q}
  echo "== browser ($variant, device=$dev, $dq)"
  res=$outdir/browser-$dev.json; log=$outdir/browser-$dev.log; rm -f "$res"
  python3 "$here/serve.py" --root $www --port 8312 --out "$res" --timeout "${GEN_TIMEOUT:-300}" >/dev/null 2>&1 & srv=$!
  sleep 0.5; prof=$(mktemp -d)
  env ${icds:+VK_DRIVER_FILES=$icds} VK_LOADER_DEBUG=error "$CHROME" "${common_flags[@]}" "${flags[@]}" \
      --user-data-dir="$prof" "http://127.0.0.1:8312/bench.html?device=$dev&$dq" > "$log" 2>&1 & cr=$!
  wait $srv; kill $cr 2>/dev/null; sleep 1; kill -9 $cr 2>/dev/null; wait $cr 2>/dev/null; rm -rf "$prof"
  [ -f "$res" ] || { echo "no result; log tail:"; grep -v dbus "$log" | tail -15; }
done
python3 - "$outdir" <<'PY'
import glob, json, os, sys
d = sys.argv[1]
def show(name, r):
    if not r:
        print(f"{name}: no result"); return None
    if "error" in r:
        print(f"{name}: ERROR {r['error'][-600:]}"); return None
    r = r.get("result", r)
    print(f"{name}: {r['device']} | path {r.get('decode_path')} | prefill {r['prompt_tokens']} tok: {r['prefill_tok_s']} tok/s"
          f" | decode {r['completion_tokens']} tok: {r['decode_tok_s']} tok/s | load {r['load_s']} s, warm-up {r['warmup_s']} s")
    return r
load = lambda p: json.load(open(p)) if os.path.exists(p) and os.path.getsize(p) else None
nat = show("native", load(f"{d}/native.json"))
for p in sorted(glob.glob(f"{d}/browser-*.json")):
    raw = load(p); b = show(os.path.basename(p)[:-5], raw)
    if raw and raw.get("adapter"): print("   adapter:", raw["adapter"], "stages:", raw.get("stages"))
    if b and nat and b["prompt_tokens"] == nat["prompt_tokens"]:
        n = min(len(b["token_ids"]), len(nat["token_ids"]))
        same = b["token_ids"][:n] == nat["token_ids"][:n]
        first = next((i for i in range(n) if b["token_ids"][i] != nat["token_ids"][i]), None)
        print(f"   greedy ids vs native: {'equal' if same else f'differ from token {first}'} ({n} compared)")
PY
