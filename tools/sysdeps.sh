#!/usr/bin/env bash
#     bash tools/sysdeps.sh [site]
# System packages from Debian. `site` (make serve): npm alone, which fetches the pinned Pyodide,
# PyScript and MicroPython packages once. Otherwise (make test): Node.js (Pyodide under Node), Mesa's Vulkan
# driver (llvmpipe: WebGPU through wgpu-py without a GPU), Chromium (the browser tests, WebGPU
# through SwiftShader) and its chromedriver (pytest-pyodide's selenium runner drives it), and DejaVu Sans (the PDF tests
# embed it with fpdf2).
# Installs only what is missing; needs root for apt-get. chromium and chromium-driver are
# installed together so their versions match (chromedriver refuses another Chromium).
set -euo pipefail
need=()
command -v node >/dev/null || need+=(nodejs npm)
command -v npm >/dev/null || need+=(npm)
if [ "${1:-}" != site ]; then
ls /usr/share/vulkan/icd.d/lvp_icd.*.json >/dev/null 2>&1 || need+=(mesa-vulkan-drivers libvulkan1)
[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] || need+=(chromium chromium-driver)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)   # a TrueType font for PDF tests
fi
if [ ${#need[@]} -eq 0 ]; then echo "sysdeps: all present"; exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "sysdeps: please install: ${need[*]}" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}"
