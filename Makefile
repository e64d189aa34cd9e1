# webinfer: the two commands a newcomer runs are `make serve` and `make test`.
PY      ?= python3
PORT    ?= 8000
CACHE   ?= $(HOME)/.cache/webinfer
export WEBINFER_CACHE := $(CACHE)
DIST    := build/pyodide
SITE    := build/site

.PHONY: serve test deps site-deps sysdeps model embed-model pyodide site lite wheel wasm chat bench bench-site clean

## make serve: build the offline site (chat page, /pyscript-example/, /library/, /lite/) and serve it
serve: site
	$(PY) tools/serve.py --dir $(SITE) --port $(PORT)

## make test: install everything the tests need, then run the whole suite
test: deps sysdeps model embed-model pyodide
	$(PY) -m pytest -q -ra tests

# What building the site needs, and no more (no test toolchain): make serve.
site-deps:
	$(PY) -m pip install -q --disable-pip-version-check -e ".[site]"
	bash tools/sysdeps.sh site

# The test toolchain on top (pytest, pytest-pyodide, Playwright, selenium, gguf, ...): make test.
deps:
	$(PY) -m pip install -q --disable-pip-version-check -e ".[test,gpu]"

sysdeps:
	bash tools/sysdeps.sh

# the default chat model and the default sentence-embedding model (all-MiniLM-L6-v2: the site's
# Documents panel, the tests and `webinfer embed` use it): both verified into $(CACHE)/models
model: site-deps
	$(PY) tools/fetch_model.py --only chat

embed-model: site-deps
	$(PY) tools/fetch_model.py --only embed

pyodide:
	$(PY) tools/pyodide_dist.py --out $(DIST)

site: site-deps model embed-model
	$(PY) tools/build_site.py --out $(SITE)

lite: site-deps
	$(PY) tools/build_lite.py

wheel:
	$(PY) -m pip wheel -q --no-deps -w build/wheels .

# Reassemble pkg/webinfer/device/wasm/*.wasm after editing kernels.wat (needs wasmtime: make deps).
wasm:
	$(PY) tools/build_wasm.py

## the command-line chat, without a browser
chat: site-deps model
	$(PY) -m webinfer chat

bench: deps model
	$(PY) -m webinfer bench --device numpy

bench-site: deps site
	$(PY) bench/site_bench.py --record

clean:
	rm -rf build .pytest_cache
