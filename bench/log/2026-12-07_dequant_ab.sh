#!/usr/bin/env bash
# Before/after of the NumPy dequantizers over whole arrays (the commit "NumPy dequantizers over whole arrays"), decode with every
# weight kept quantized (NumpyDevice(f32_budget=0), 64-token prompt ids, 16 decoded), the build
# before the change (HEAD~1, unpacked to /tmp/oldpkg) and after, alternating, three rounds.
# Run on the 2-core box, 2026-12-07 19:38-19:46 UTC. Output as recorded in bench/log/runs.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
rm -rf /tmp/oldpkg && mkdir -p /tmp/oldpkg && git archive HEAD~1 pkg | tar -x -C /tmp/oldpkg
cat > /tmp/dec.py <<'PY'
import sys, numpy as np
sys.path.insert(0, sys.argv[1])
import webinfer
from webinfer.device.numpy_device import NumpyDevice
from webinfer.bench import _decode
out = []
for path in sys.argv[2:]:
    m = webinfer.load(path, device=NumpyDevice("q", 0), n_ctx=200)
    ids = [int(t) for t in np.random.default_rng(0).integers(0, m.config.n_vocab, 64)]
    _decode(m, ids[:16], 2)
    out.append("%s %.2f" % (path.split(".")[-3] if "quant_types" in path else "Q4_1", 16 / _decode(m, ids, 16)))
print(sys.argv[1], out)
PY
Q=build/quant_types   # the files bench/quant_types.py writes
M=$(python3 -c "import sys; sys.path.insert(0, 'pkg'); from webinfer.sources import default_model_path as d; print(d())")
for i in 1 2 3; do
  for pkg in /tmp/oldpkg/pkg pkg; do
    python3 /tmp/dec.py $pkg $M $Q/*Q4_K_M*.gguf $Q/*Q5_K_M*.gguf $Q/*Q6_K*.gguf $Q/*Q8_0*.gguf
  done
done
