#!/usr/bin/env bash
# System packages the tests need: Node.js (Pyodide under Node) and Mesa's Vulkan driver
# (llvmpipe: WebGPU through wgpu-py without a GPU). Installs only what is missing; needs root.
set -euo pipefail
need=()
command -v node >/dev/null || need+=(nodejs npm)
[ -e /usr/share/vulkan/icd.d/lvp_icd.x86_64.json ] || [ -e /usr/share/vulkan/icd.d/lvp_icd.aarch64.json ] \
  || need+=(mesa-vulkan-drivers libvulkan1)
if [ ${#need[@]} -eq 0 ]; then echo "sysdeps: all present"; exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "sysdeps: please install: ${need[*]}" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}"
