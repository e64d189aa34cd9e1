"""webinfer: language-model inference in the browser, in Python.

    import webinfer
    model = webinfer.load()                      # the default model (or a GGUF path / bytes / URL)
    print(model.complete("The capital of France is", max_tokens=16, temperature=0).text)

In Pyodide / notebooks use the async API: ``model = await webinfer.load_async(url_or_bytes)``
(it opens the browser's WebGPU adapter first: ``await webinfer.init_gpu()``; given a
``webinfer.ByteStream`` or a file object it streams the weights to the GPU: webinfer.stream), then
``async for delta in model.generate(prompt): ...``.
Sentence embeddings: ``webinfer.load_embedder()`` (all-MiniLM-L6-v2 by default) -> ``.embed(texts)``.
"""

__version__ = "0.1.0"

from .errors import (ChatTemplateError, ContextLengthError, DeviceError, GGUFError,  # noqa: E402
                     KitUnavailableError, SafetensorsError, TokenizerError, UnsupportedModelError, WebinferError,
                     StoreError, DocumentError, GrammarError, ToolError)
from .aload import aselftest, init_gpu, load_async, load_embedder_async  # noqa: E402
from .device import selftest  # noqa: E402
from .embed import Embedder, load_embedder  # noqa: E402
from .model import Model, load  # noqa: E402
from .recommended import RecommendedSampling  # noqa: E402
from .sampling import SamplingParams  # noqa: E402
from .stream import ByteStream  # noqa: E402

__all__ = ["load", "load_async", "ByteStream", "init_gpu", "Model", "SamplingParams", "RecommendedSampling", "selftest",
           "aselftest", "load_embedder", "load_embedder_async", "Embedder",
           "WebinferError", "GGUFError", "SafetensorsError", "UnsupportedModelError", "TokenizerError",
           "ChatTemplateError", "ContextLengthError", "DeviceError", "KitUnavailableError", "StoreError",
           "DocumentError", "GrammarError", "ToolError", "__version__"]
