"""webinfer: language-model inference in the browser, in Python.

    import webinfer
    model = webinfer.load()                      # the default model (or a GGUF path / bytes / URL)
    print(model.complete("The capital of France is", max_tokens=16, temperature=0).text)

In Pyodide / notebooks use the async API: ``async for delta in model.generate(prompt): ...``.
"""

__version__ = "0.1.0"

from .errors import (ChatTemplateError, ContextLengthError, DeviceError, GGUFError,  # noqa: E402
                     TokenizerError, UnsupportedModelError, WebinferError)
from .device import selftest  # noqa: E402
from .model import Model, load  # noqa: E402
from .sampling import SamplingParams  # noqa: E402

__all__ = ["load", "Model", "SamplingParams", "selftest", "WebinferError", "GGUFError", "UnsupportedModelError",
           "TokenizerError", "ChatTemplateError", "ContextLengthError", "DeviceError", "__version__"]
