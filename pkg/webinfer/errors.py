"""Every error webinfer raises on purpose. Each names the offending value.

Not here: internal assertion failures (those are bugs, and stay plain ``assert``).
"""


class WebinferError(Exception):
    """Base class: anything webinfer reports to a user as a one-line message."""


class GGUFError(WebinferError, ValueError):
    """A GGUF file is malformed, truncated, hostile, or uses something unsupported."""


class SafetensorsError(GGUFError):
    """A safetensors file is malformed, truncated or hostile (a GGUFError, so one ``except`` catches
    a bad model file of either format)."""


class UnsupportedModelError(WebinferError, ValueError):
    """The file is a valid GGUF but describes an architecture or tensor type we cannot run."""


class TokenizerError(WebinferError, ValueError):
    """The tokenizer metadata is missing or inconsistent."""


class ChatTemplateError(WebinferError, ValueError):
    """A chat template that cannot be rendered (unknown family without jinja2, or a template error)."""


class ToolError(WebinferError, ValueError):
    """tools= / tool_choice= that cannot be used (a malformed tool, a choice naming no tool), or a
    tool call the model's output does not hold."""


class ContextLengthError(WebinferError, ValueError):
    """A prompt (plus what is asked to be generated) does not fit the model's context."""


class DeviceError(WebinferError, RuntimeError):
    """A compute device is missing, too small, or failed."""


class KitUnavailableError(DeviceError):
    """A JS helper ("kit", webinfer.ffi) cannot be built: the page forbids eval (its
    Content-Security-Policy) and does not provide the kit through globalThis.webinferKits."""


class StoreError(WebinferError, RuntimeError):
    """A vector store (webinfer.rag) that cannot be used as asked: its file is not a store, is
    corrupt or from a newer schema (the file is left as it was), or vectors (from embed() or a
    query) do not fit it."""


class DocumentError(WebinferError, ValueError):
    """A document given to the vector store that cannot be stored: empty, too large, or binary."""


class GrammarError(WebinferError, ValueError):
    """A GBNF grammar that cannot be used (a syntax error, with its line and column; an undefined
    or left-recursive rule), or a JSON Schema with a keyword the grammar compiler does not support."""
