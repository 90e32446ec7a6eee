# portkit: `make demo` and `make test` work on a fresh machine with Python 3.11.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PIP := $(BIN)/pip install --disable-pip-version-check -c constraints.txt
PYTEST_ARGS ?=

.PHONY: install demo test test-fast bench bench-serve coverage lint clean constraints samples web-deps

install: $(STAMP)

# Everything comes from the repo's files: pyproject extras + exact pins in constraints.txt.
# onnx2tf and tf-keras pin ancient exact versions, and tf-keras with deps drags in full `tensorflow`
# beside tensorflow-cpu: both go in with --no-deps, then the few libraries onnx2tf really needs.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(PIP) -e '.[cpu,torch,tf,serve,litert,executorch,hf,ray,dev]'
	$(PIP) --no-deps onnx2tf tf-keras
	$(PIP) onnx-graphsurgeon sng4onnx psutil
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python samples/demo.py

# Two pytest workers, one test file each at a time (module fixtures stay in one process): most of the
# suite waits on worker start-up and framework imports, so this halves the wall time on 2 cores.
test: $(STAMP) web-deps
	$(BIN)/python -m pytest -m "not gpu" -n 2 --dist loadfile --durations=15 $(PYTEST_ARGS)

test-fast: $(STAMP) web-deps
	$(BIN)/python -m pytest -m "not gpu and not slow" -x $(PYTEST_ARGS)

# onnxruntime-web and playwright-core for the web-bundle tests, pinned by web/package-lock.json, installed
# into web/node_modules (never committed), and Debian's chromium for the real-browser test (as root, where
# apt-get exists). Offline or without npm/apt this only warns: those tests then skip and say why.
WEB_STAMP := web/node_modules/.portkit-stamp
web-deps: $(WEB_STAMP)
$(WEB_STAMP): web/package.json web/package-lock.json
	@if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "web-deps: apt-get install chromium failed; the browser test will skip"; fi
	@if command -v npm >/dev/null 2>&1; then \
	  if (cd web && npm ci --no-audit --no-fund --loglevel=error); then touch $@; \
	  else echo "web-deps: npm ci failed (registry unreachable?); web bundle tests will skip"; fi; \
	else echo "web-deps: npm not found; web bundle tests will skip"; fi

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py
	$(BIN)/python benchmarks/bench_serve.py
	$(BIN)/python benchmarks/bench_process.py
	$(BIN)/python benchmarks/bench_litert.py
	$(BIN)/python benchmarks/bench_generate.py

# served throughput vs a bare onnxruntime loop (issue 7's goal); results/serve-latest.{json,md}
bench-serve: $(STAMP)
	$(BIN)/python benchmarks/bench_serve.py

# the architecture corpus over every route (issue 16): benchmarks/results/coverage.{json,md}
COVERAGE_ARGS ?=
coverage: $(STAMP)
	$(BIN)/python benchmarks/coverage.py $(COVERAGE_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src converters serving tests samples benchmarks

samples: $(STAMP)
	$(BIN)/python samples/train_digits_torch.py

# Re-pin after a deliberate upgrade of the stack.
constraints: $(STAMP)
	{ sed -n '1,3p' constraints.txt; $(BIN)/pip freeze --exclude-editable | grep -vi '^portkit'; } > constraints.new
	mv constraints.new constraints.txt

clean:
	rm -rf $(VENV) build dist *.egg-info src/*.egg-info demo-out .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
