#!/usr/bin/env bash
# On the GPU machine, in the repo root: put the browser that prepare.sh split into /tmp/gb.
#
#   bench/gpu_browser/machine.sh stage1   # call 1, carry .gpu_browser/a: copy it to /tmp/gb,
#                                         # unpack the libraries, write /tmp/gb/env.sh
#   bench/gpu_browser/machine.sh stage2   # call 2 (within 30 s, while the machine is warm),
#                                         # carry .gpu_browser/b: join, check and unpack chromium
#
# Files in the working tree do not survive to the next call; /tmp does while the machine stays
# warm. `source /tmp/gb/env.sh` sets CHROME (the binary), LD_LIBRARY_PATH (the bundled Vulkan
# loader and ANGLE, the NSS libraries, the NVIDIA driver's libraries) and VK_ICD_JSON (NVIDIA's
# Vulkan ICD manifest), as probe.sh and site_probe.sh expect. Nothing is written outside /tmp/gb.
set -euo pipefail
gb=${GB:-/tmp/gb}     # another GB lets this run on a machine without the GPU, for a check
case ${1:-} in
  stage1)
    # the NVIDIA Vulkan driver (libGLX_nvidia.so.0) needs glvnd's libGLdispatch: without these the
    # loader "could not get vkCreateInstance" from it and the browser saw SwiftShader only
    if ls .gl/*.deb >/dev/null 2>&1; then for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig; fi
    mkdir -p $gb/chrome && cp .gpu_browser/a/* $gb/
    PYTHONPATH=$gb/py python3 -c "import brotli" 2>/dev/null ||
      python3 -m pip install -q --no-index --no-deps --no-compile --target $gb/py $gb/brotli-*.whl
    GB=$gb PYTHONPATH=$gb/py python3 - <<'EOF'
import brotli, io, os, tarfile
gb = os.environ["GB"]
for name, dest in (("swiftshader", "/chrome"), ("al2023", "/al2023")):
    tarfile.open(fileobj=io.BytesIO(brotli.decompress(open(f"{gb}/{name}.tar.br", "rb").read()))).extractall(gb + dest)
EOF
    nv=/usr/local/nvidia
    cat > $gb/env.sh <<EOF
export CHROME=$gb/chrome/chromium
export LD_LIBRARY_PATH=$gb/chrome:$gb/al2023/lib:$nv/lib64:$nv/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
export VK_ICD_JSON=\$(ls $nv/share/vulkan/icd.d/nvidia_icd*.json /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json 2>/dev/null | head -1)
EOF
    . $gb/env.sh
    echo "stage1: VK_ICD_JSON=$VK_ICD_JSON"; ls $gb $gb/chrome ;;
  stage2)
    [ -f $gb/chromium.br.1 ] || { echo "machine.sh: $gb/chromium.br.1 is missing (the machine went cold after stage1: run stage1 again)"; exit 3; }
    cp .gpu_browser/b/chromium.br.2 .gpu_browser/b/chromium.br.sha256 $gb/
    cat $gb/chromium.br.1 $gb/chromium.br.2 > $gb/chromium.br
    (cd $gb && sha256sum -c chromium.br.sha256)
    GB=$gb PYTHONPATH=$gb/py python3 - <<'EOF'
import brotli, os
gb = os.environ["GB"]
with open(gb + "/chrome/chromium", "wb") as f:
    f.write(brotli.decompress(open(gb + "/chromium.br", "rb").read()))
os.chmod(gb + "/chrome/chromium", 0o755)
EOF
    rm -f $gb/chromium.br $gb/chromium.br.1 $gb/chromium.br.2
    . $gb/env.sh
    "$CHROME" --version ;;
  *) echo "usage: machine.sh stage1|stage2"; exit 2 ;;
esac
