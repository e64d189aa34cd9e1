"""The chat page when its GPU is lost mid-answer: the model is read again and reloaded on NumPy.

The page boots on WebGPU (SwiftShader), the model streamed to the GPU (so the worker keeps no copy of
the file). Then the worker's GPUDevice is destroyed as the next answer encodes its first commands
(GPUDevice.destroy(), WebGPU's own way to lose a device: every later call on it fails as on a
device the browser took back). The page says what happened and that the model was reloaded on
NumPy, the status names NumPy, and the next answer is HF transformers' golden one.
"""

from __future__ import annotations

import pytest

from chat_page import ask, assert_clean, golden, set_greedy, wait_ready
from test_stream_page import FORCE_WEBGPU

pytestmark = [pytest.mark.slow]

# run in each of the page's workers: the engine's is the one with a GPUDevice class to patch
LOSE_GPU_ON_NEXT_ENCODER = """() => {
  if (typeof GPUDevice === "undefined") return false;
  const encoder = GPUDevice.prototype.createCommandEncoder;
  GPUDevice.prototype.createCommandEncoder = function (desc) {
    GPUDevice.prototype.createCommandEncoder = encoder;
    this.destroy();
    return encoder.call(this, desc);
  };
  return true; }"""


def test_gpu_lost_mid_answer_reloads_the_model_on_numpy(open_page, model_file):
    prompt, expected = golden(model_file)
    page, rec = open_page(webgpu=True, init_script=FORCE_WEBGPU)
    wait_ready(page, rec)
    assert page.inner_text("#status").startswith("WebGPU"), page.inner_text("#status")
    set_greedy(page, 2)
    assert any(w.evaluate(LOSE_GPU_ON_NEXT_ENCODER) for w in page.workers)
    ask(page, prompt)
    notice = page.inner_text("#notice")
    assert notice.startswith("Could not answer: The GPU failed mid-answer (webgpu failed mid-generation (WebGPU "
                             "device lost (destroyed)"), notice
    assert notice.endswith("The model was reloaded on NumPy: ask again."), notice
    assert page.inner_text("#status").startswith("CPU (NumPy)"), page.inner_text("#status")
    page.click("#new-chat")
    page.wait_for_function("() => document.querySelectorAll('.msg').length === 0")
    assert ask(page, prompt, timeout=600_000) == expected(2)
    assert_clean(page, rec)
