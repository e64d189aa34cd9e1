# webinfer: the two commands a newcomer runs are `make serve` and `make test`.
PY      ?= python3
PORT    ?= 8000
CACHE   ?= $(HOME)/.cache/webinfer
export WEBINFER_CACHE := $(CACHE)
DIST    := build/pyodide

.PHONY: serve test deps sysdeps model pyodide wheel bench clean

## make serve: run the app with the default model (builds what it needs first)
serve: deps model
	$(PY) -m webinfer chat

## make test: install everything the tests need, then run the whole suite
test: deps sysdeps model pyodide
	$(PY) -m pytest -q -ra tests

deps:
	$(PY) -m pip install -q --disable-pip-version-check -e ".[test,gpu]"

sysdeps:
	bash tools/sysdeps.sh

model:
	$(PY) tools/fetch_model.py

pyodide:
	$(PY) tools/pyodide_dist.py --out $(DIST)

wheel:
	$(PY) -m pip wheel -q --no-deps -w build/wheels .

bench: deps model
	$(PY) -m webinfer bench --device numpy

clean:
	rm -rf build .pytest_cache
