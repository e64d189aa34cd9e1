#!/usr/bin/env bash
# A second device call (instead of call2.sh) that asks why the browser's GPU process dies on the
# NVIDIA driver (README.md, "Status"): unpack the browser (machine.sh stage2), then
#   1. vkinfo.py --create: vkCreateDevice with each extension Chromium and Dawn ask for, in a
#      plain process, through the system Vulkan loader and through the browser's bundled one,
#      with and without env.sh's library path (is device creation itself what fails here?);
#   2. the probes with segv_trace.so preloaded (where the GPU process faults);
#   3. the probes with the browser on the system Vulkan loader (PROBE_LD without /tmp/gb/chrome).
# Everything lands in $OUT/gpu_diag.tgz (and on stdout).
#   (repo root) bench/gpu_browser/diag.sh         carry: .gpu_browser/b
set -u
here=bench/gpu_browser
bash $here/machine.sh stage2 || exit 3
. /tmp/gb/env.sh
o=/tmp/gb/diag; mkdir -p $o
sys=$(ls /usr/lib/x86_64-linux-gnu/libvulkan.so.1 2>/dev/null | head -1)
nvld=/usr/local/nvidia/lib64
vk() {  # vk LABEL LD_LIBRARY_PATH LIBVULKAN
  echo "== vkinfo --create: $1"
  LD_LIBRARY_PATH=$2 VK_DRIVER_FILES=$VK_ICD_JSON timeout 90 python3 $here/vkinfo.py --create "$3" 2>&1 |
    tee $o/vkinfo-$1.txt | head -40
}
[ -n "$sys" ] && vk system-loader $nvld "$sys"
[ -n "$sys" ] && vk system-loader-envsh "$LD_LIBRARY_PATH" "$sys"
vk bundled-loader-envsh "$LD_LIBRARY_PATH" /tmp/gb/chrome/libvulkan.so.1
vk bundled-loader-plain $nvld /tmp/gb/chrome/libvulkan.so.1
t=${PROBE_TIMEOUT:-20}
echo "== probes with segv_trace"
SEGV_TRACE=$PWD/.gpu_browser/b/segv_trace.so PROBE_TIMEOUT=$t PROBE_PORT=8321 \
  $here/probe.sh "$CHROME" $o/trace anglevk-vknative graphite-gldisabled
echo "== probes on the system Vulkan loader"
PROBE_LD=/tmp/gb/al2023/lib:$nvld PROBE_TIMEOUT=$t PROBE_PORT=8322 \
  $here/probe.sh "$CHROME" $o/sysld anglevk-vknative graphite-anglevk
tar czf "${OUT:-/tmp}/gpu_diag.tgz" -C $o .
