#!/usr/bin/env bash
# The second device call: unpack the browser (machine.sh stage2), probe every flag set
# (probe.sh all), then on the first set that gives a non-fallback adapter: the probe again with
# the 512 MiB streaming read, and gen_bench.sh (native wgpu-py vs the browser, then the browser's
# NumPy path on a short prompt; PROBE_BW=0 and GEN_DEVICES= skip those). Everything lands in $OUT/gpu_browser.tgz (and on stdout).
#   (repo root) bench/gpu_browser/call2.sh          carry: .gpu_browser/b
set -u
here=bench/gpu_browser
bash $here/machine.sh stage2 || exit 3
. /tmp/gb/env.sh
o=/tmp/gb/out; mkdir -p $o
PROBE_TIMEOUT=${PROBE_TIMEOUT:-25} $here/probe.sh "$CHROME" $o/probe ${PROBE_VARIANTS:-all}
best=$(python3 - $o/probe <<'PY'
import json, os, sys
for v in ("anglevk-vknative", "graphite-anglevk", "graphite-gldisabled", "gldisabled-vknative",
          "swangle-vknative", "anglevk-interop", "swangle"):
    p = os.path.join(sys.argv[1], v + ".json")
    a = (json.load(open(p)).get("adapter") or {}) if os.path.exists(p) else {}
    if a and a.get("isFallbackAdapter") is False:
        print(v); break
PY
)
echo "first flag set with a hardware adapter: ${best:-none}"
if [ -n "$best" ]; then
  [ "${PROBE_BW:-1}" = 0 ] || PROBE_QUERY=bw=1 $here/probe.sh "$CHROME" $o/probe-bw "$best"
  GB_SITE=$PWD/.gpu_browser/b/site GB_WHEELS=$PWD/.gpu_browser/b/wheels \
    BROWSER_QUERY_numpy=${BROWSER_QUERY_numpy:-prompt=64&decode=16&repeats=1} \
    timeout 420 $here/gen_bench.sh "$best" $o/gen webgpu ${GEN_DEVICES-numpy}
fi
tar czf "${OUT:-/tmp}/gpu_browser.tgz" -C $o .
