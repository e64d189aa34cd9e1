"""webinfer: language-model inference in the browser, in Python."""

__version__ = "0.1.0"
