#!/usr/bin/env bash
# Here (a machine with npm, pip and apt-get; no GPU needed): fetch and split what the GPU machine
# needs to run headless Chromium, into the git-ignored folder .gpu_browser/ of the repo root.
#
#   bench/gpu_browser/prepare.sh
#
# .gpu_browser/a/  first call's carry (< 64 MiB): the first SPLIT bytes of npm
#                  @sparticuz/chromium@153.0.0's bin/chromium.br, its al2023.tar.br (NSS libs)
#                  and swiftshader.tar.br (Vulkan loader, SwiftShader, ANGLE), the cp312 brotli wheel
# .gpu_browser/b/  second call's carry: the rest of chromium.br and its sha256; site/ (the built
#                  site's Pyodide dist and webinfer wheel, from build/site) and wheels/ (cp312
#                  wgpu, cffi, pycparser for CPython) for gen_bench.sh
# The browser brings its own Vulkan loader (in swiftshader.tar.br); the GPU machine has the NVIDIA
# driver and its ICD manifest, and no loader of its own.
# Why two calls: one call carries at most 64 MiB, and chromium.br alone is 67 MB (machine.sh).
set -euo pipefail
root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
cd "$root"
grep -qx '/.gpu_browser/' .git/info/exclude 2>/dev/null || echo '/.gpu_browser/' >> .git/info/exclude
SPLIT=${SPLIT:-56000000}
tmp=$(mktemp -d)
rm -rf .gpu_browser && mkdir -p .gpu_browser/a .gpu_browser/b
(cd "$tmp" && npm pack --silent @sparticuz/chromium@153.0.0 >/dev/null && tar xzf sparticuz-chromium-153.0.0.tgz)
bin=$tmp/package/bin
head -c "$SPLIT" "$bin/chromium.br" > .gpu_browser/a/chromium.br.1
tail -c +"$((SPLIT + 1))" "$bin/chromium.br" > .gpu_browser/b/chromium.br.2
(cd "$bin" && sha256sum chromium.br) > .gpu_browser/b/chromium.br.sha256
cp "$bin/al2023.tar.br" "$bin/swiftshader.tar.br" .gpu_browser/a/
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 -d .gpu_browser/a 'brotli==1.2.1'
rm -rf "$tmp"
[ -d build/site/pyodide ] || python3 tools/build_site.py --out build/site
mkdir -p .gpu_browser/b/site .gpu_browser/b/wheels
cp -r build/site/pyodide build/site/wheels .gpu_browser/b/site/
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
  -d .gpu_browser/b/wheels "wgpu==$(python3 -c 'import wgpu; print(wgpu.__version__)')" cffi pycparser
# segv_trace.so: a crashing process's backtrace (probe.sh SEGV_TRACE=...)
gcc -O1 -shared -fPIC -o .gpu_browser/b/segv_trace.so bench/gpu_browser/segv_trace.c -ldl
# .gl/: glvnd and the Vulkan loader as .debs (carried with call 1; machine.sh stage1 unpacks them)
grep -qx '/.gl/' .git/info/exclude || echo '/.gl/' >> .git/info/exclude
lists=$(mktemp -d); mkdir -p .gl "$lists/partial"
o="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=$lists"
apt-get $o update >/dev/null && (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null)
du -sh .gpu_browser/a .gpu_browser/b .gl
