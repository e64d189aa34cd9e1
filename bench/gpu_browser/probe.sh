#!/usr/bin/env bash
# Which Chromium flag set gives a page a WebGPU adapter on the real GPU?
#
#   probe.sh CHROMIUM OUTDIR VARIANT...        ("all" = anglevk-vknative swangle-vknative swangle)
#
# Variants are flags.sh's. For each: serve probe.html on 127.0.0.1, open it headless with that variant's flags,
# wait up to $PROBE_TIMEOUT s (default 25) for the page's POST, and print one line:
#   <variant>: vendor/architecture/description fallback=<isFallbackAdapter> check=<mismatches> ...
# or the page's error / "no result", then the GPU-process log lines that say why.
# OUTDIR/<variant>.json holds the page's result, OUTDIR/<variant>.log the browser's stderr.
#
# Environment: VK_ICD_JSON (a Vulkan ICD manifest for VK_DRIVER_FILES, e.g. the
# NVIDIA one), EGL_VENDOR_JSON (a glvnd EGL vendor file), PROBE_QUERY (e.g. "bw=1"),
# SEGV_TRACE (segv_trace.so: preloaded into the browser's processes, so a process that dies on a
# signal writes its backtrace, by module and offset, to the log; the summary prints it),
# VK_LOADER_DEBUG (default error,warn), PROBE_LD (the browser's LD_LIBRARY_PATH instead of env.sh's:
# without /tmp/gb/chrome in it, the browser's dlopen of libvulkan.so.1 finds the system loader),
# PROBE_EXTRA (more flags after the variant's, e.g. --disable-angle-features=NAME,...).
# This is not the webinfer bench (gen_bench.sh is).
set -u
exe=$1; outdir=$2; shift 2
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$outdir"
timeout_s=${PROBE_TIMEOUT:-25}
port=${PROBE_PORT:-8311}
variants=("$@")
[ "${variants[0]:-}" = all ] && variants=(anglevk-vknative swangle-vknative swangle)

. "$here/flags.sh"

for v in "${variants[@]}"; do
  variant_flags "$v" "$exe" || { echo "$v: unknown variant"; continue; }
  res=$outdir/$v.json; log=$outdir/$v.log; rm -f "$res"
  python3 "$here/serve.py" --root "$here" --port "$port" --out "$res" --timeout "$timeout_s" >/dev/null 2>&1 & srv=$!
  sleep 0.5
  prof=$(mktemp -d)
  env ${icds:+VK_DRIVER_FILES=$icds} ${EGL_VENDOR_JSON:+__EGL_VENDOR_LIBRARY_FILENAMES=$EGL_VENDOR_JSON} \
      ${SEGV_TRACE:+LD_PRELOAD=$SEGV_TRACE} ${PROBE_LD:+LD_LIBRARY_PATH=$PROBE_LD} \
      VK_LOADER_DEBUG=${VK_LOADER_DEBUG:-error,warn} \
      "$exe" "${common_flags[@]}" "${flags[@]}" ${PROBE_EXTRA:-} --user-data-dir="$prof" \
      "http://127.0.0.1:$port/probe.html?${PROBE_QUERY:-}" >"$log" 2>&1 & cr=$!
  wait $srv
  kill $cr 2>/dev/null; sleep 1; kill -9 $cr 2>/dev/null; wait $cr 2>/dev/null; rm -rf "$prof"
  python3 - "$v" "$res" "$log" <<'EOF'
import json, os, re, sys
v, res, log = sys.argv[1:]
if os.path.exists(res):
    r = json.load(open(res))
    a = r.get("adapter") or {}
    line = (f"{v}: {a.get('vendor')}/{a.get('architecture')}/{a.get('description')} "
            f"fallback={a.get('isFallbackAdapter')} check={r.get('compute_check')} "
            f"dispatch_ms={r.get('dispatch_ms')} roundtrip_ms={r.get('roundtrip_ms')}")
    if r.get("stream_GBps"): line += f" GBps={r['stream_GBps']}"
    if r.get("error"): line += " ERROR " + r["error"].splitlines()[0]
else:
    line = f"{v}: no result"
print(line)
noise = re.compile(r"dbus|bluez|bluetooth|idle_linux|UPower|vaapi|unexpected operator|InitializeSandbox|fontconfig|^\s*$")
keys = re.compile(r"vulkan|VK_|webgpu|adapter|ANGLE|EGL|GrContext|Skia|GPU process|gpu_init|Dawn|SwiftShader|loader|CONSOLE|ERROR|FATAL", re.I)
seen = set()
trace = [l.rstrip() for l in open(log, errors="replace") if l.startswith("segv_trace: ") and " map " not in l]
for l in trace[:40]:
    print("   !", l)
for l in open(log, errors="replace"):
    k = re.sub(r"^\[[^\]]*:(INFO|WARNING|ERROR|VERBOSE\d|FATAL):", r"\1:", l.rstrip())[:220]
    if keys.search(k) and not noise.search(k) and k not in seen and len(seen) < 16:
        seen.add(k); print("   |", k)
EOF
done
