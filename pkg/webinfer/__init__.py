"""webinfer: language-model inference in the browser, in Python.

    import webinfer
    model = webinfer.load()                      # the default model (or a GGUF path / bytes / URL)
    print(model.complete("The capital of France is", max_tokens=16, temperature=0).text)

In Pyodide / notebooks use the async API: ``model = await webinfer.load_async(url_or_bytes)``
(it opens the browser's WebGPU adapter first: ``await webinfer.init_gpu()``; given a
``webinfer.ByteStream`` or a file object it streams the weights to the GPU: webinfer.stream), then
``async for delta in model.generate(prompt): ...``.
"""

__version__ = "0.1.0"

from .errors import (ChatTemplateError, ContextLengthError, DeviceError, GGUFError,  # noqa: E402
                     KitUnavailableError, TokenizerError, UnsupportedModelError, WebinferError)
from .aload import aselftest, init_gpu, load_async  # noqa: E402
from .device import selftest  # noqa: E402
from .model import Model, load  # noqa: E402
from .recommended import RecommendedSampling  # noqa: E402
from .sampling import SamplingParams  # noqa: E402
from .stream import ByteStream  # noqa: E402

__all__ = ["load", "load_async", "ByteStream", "init_gpu", "Model", "SamplingParams", "RecommendedSampling", "selftest", "aselftest",
           "WebinferError", "GGUFError", "UnsupportedModelError", "TokenizerError", "ChatTemplateError",
           "ContextLengthError", "DeviceError", "KitUnavailableError", "__version__"]
