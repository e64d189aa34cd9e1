"""The Python half of the tiny library example: install webinfer, load a model, generate.

What this is: the whole recipe of docs/library.md as three functions any Pyodide app can copy.
app.js boots Pyodide and calls them; tests/pyodide/test_library_recipe.py runs the same file in
a bare Pyodide under Node. What it is not: the chat site (site/) or a UI.
"""

import micropip


async def install(wheel_url: str) -> str:
    """micropip installs the wheel from a URL without asking PyPI: numpy is in the local lock."""
    await micropip.install(wheel_url)
    import webinfer
    return webinfer.__version__


async def load_model(source):
    """source: GGUF bytes (a fetch()'s arrayBuffer as bytes), or a URL on this site."""
    import webinfer
    if isinstance(source, str):
        from pyodide.http import pyfetch
        resp = await pyfetch(source)
        if not resp.ok:
            raise RuntimeError(f"could not fetch {source}: HTTP {resp.status}")
        source = await resp.bytes()
    if hasattr(webinfer, "load_async"):          # opens the browser's WebGPU first, when there is one
        return await webinfer.load_async(source)
    return webinfer.load(source)


async def generate(model, prompt: str, on_delta=print, max_tokens: int = 48) -> str:
    """Stream a greedy answer to a chat prompt; on_delta gets each text piece."""
    ids = model.encode_chat([{"role": "user", "content": prompt}])
    text = ""
    async for delta in model.generate(ids, max_tokens=max_tokens, temperature=0):
        on_delta(delta)
        text += delta
    return text
