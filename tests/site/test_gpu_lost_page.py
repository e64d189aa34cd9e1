"""The chat page when its GPU is lost: mid-answer, the model is read again and reloaded on NumPy;
mid-load, the load fails with the reason and the model in use is rebuilt on a GPU opened anew.

The page boots on WebGPU (SwiftShader), the model streamed to the GPU (so the worker keeps no copy of
the file). Then the worker's GPUDevice is destroyed as the next answer encodes its first commands
(GPUDevice.destroy(), WebGPU's own way to lose a device: every later call on it fails as on a
device the browser took back). The page says what happened and that the model was reloaded on
NumPy, the status names NumPy, and the next answer is HF transformers' golden one.
"""

from __future__ import annotations

import pytest

from chat_page import ask, assert_clean, cached_names, golden, load_source, set_greedy, wait_ready
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


# Remember the worker's GPUDevice as it makes buffers; destroy it at the Nth upload (queue.writeBuffer)
# after this call: the load in progress then meets a lost device partway through the weights.
LOSE_GPU_MID_UPLOAD = """(nth) => {
  if (typeof GPUDevice === "undefined") return false;
  const create = GPUDevice.prototype.createBuffer, write = GPUQueue.prototype.writeBuffer;
  let device = null, n = 0;
  GPUDevice.prototype.createBuffer = function (desc) { device = this; return create.call(this, desc); };
  GPUQueue.prototype.writeBuffer = function (...args) {
    if (++n === nth && device !== null) {
      GPUDevice.prototype.createBuffer = create;
      GPUQueue.prototype.writeBuffer = write;
      device.destroy();
    }
    return write.apply(this, args); };
  return true; }"""


def test_gpu_lost_mid_load_keeps_the_model_in_use(open_page, model_file):
    """WebGPU chosen in Settings, the model streamed to the GPU. Loading a model again, the GPU is lost
    partway through its weights: the page says the load failed and why, the model in use is
    rebuilt (its file read again from the cache, onto a GPU opened anew), and it answers as HF does."""
    prompt, expected = golden(model_file)
    page, rec = open_page(webgpu=True, init_script=FORCE_WEBGPU)
    wait_ready(page, rec)
    assert page.inner_text("#status").startswith("WebGPU"), page.inner_text("#status")
    cached_names(page, wait_for="/models/" + model_file.name)     # the boot's stream is in the cache
    assert any(w.evaluate(LOSE_GPU_MID_UPLOAD, 8) for w in page.workers)
    load_source(page, "default")
    notice = page.inner_text("#notice")
    print("notice:", notice)
    assert notice.startswith("Could not load " + model_file.name + "."), notice
    assert "lost" in notice.lower() or "destroyed" in notice.lower(), notice
    assert "could not be rebuilt" not in notice, notice
    assert page.evaluate("() => document.body.dataset.state") == "ready"
    assert page.inner_text("#status").startswith("WebGPU"), page.inner_text("#status")
    set_greedy(page, 2)
    assert ask(page, prompt, timeout=600_000) == expected(2)
    assert_clean(page, rec)
