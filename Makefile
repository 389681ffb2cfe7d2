# The two Quickstart commands: `make serve` and `make test`. Both create or
# refresh .venv from the project's own files.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip --disable-pip-version-check -q
EDITABLE := --config-settings editable_mode=strict

.PHONY: venv test lint typecheck unit serve clean bench browser lambda docs docs-serve

# A strict editable install links files one by one, so a module added or removed
# under src/ needs a reinstall; an edit does not. The list of those files is
# rewritten (at every make run, cheaply) only when it changes, so its date says
# when the list last changed.
SRC_LIST := $(VENV)/.src-files
$(shell mkdir -p $(VENV) && find src -type f ! -path '*/__pycache__/*' \
  ! -path '*.egg-info/*' 2>/dev/null | LC_ALL=C sort > $(SRC_LIST).new \
  && { cmp -s $(SRC_LIST).new $(SRC_LIST) || cp $(SRC_LIST).new $(SRC_LIST); } \
  ; rm -f $(SRC_LIST).new)
# Everything when pyproject.toml or setup.py changed (or on a fresh venv), else
# ($? holds only the list) just the package's own links.
DEPS_CHANGED = $(filter-out $(SRC_LIST),$?)

$(VENV)/.stamp-install: pyproject.toml setup.py $(SRC_LIST)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(if $(DEPS_CHANGED),$(PIP) install --upgrade pip)
	$(PIP) install $(if $(DEPS_CHANGED),-e ".[test]",--no-deps -e .) $(EDITABLE)
	touch $@

venv: $(VENV)/.stamp-install

lint: venv
	$(BIN)/ruff check src tests $(wildcard benchmarks examples)
	$(BIN)/ruff format --check src tests $(wildcard benchmarks examples)

typecheck: venv
	$(BIN)/mypy src

unit: venv
	$(BIN)/pytest tests/unit

# The browser test drives Debian's chromium (never a downloaded browser build).
# Without it the test skips locally and fails under CI=true.
browser:
	@test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium) \
	  || echo "warning: could not install chromium; the browser test cannot run"

test: lint typecheck browser docs
	$(BIN)/pytest

# The documentation site (mkdocs.yml, docs/) into build/site. --strict turns
# every warning into a failure: a link to a missing page or anchor, a page left
# out of the navigation, a snippet or a Python object that cannot be found.
# Nothing is fetched from the network. Material prints a banner about MkDocs 2
# at every build; staying on MkDocs 1.x is deliberate (pyproject's docs extra).
MKDOCS := NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs

docs: venv
	$(MKDOCS) build --strict

# For writing: rebuilds on every save (warnings are shown, not fatal), on port
# 8001 beside `make serve` on 8000.
DOCS_ADDR ?= 127.0.0.1:8001

docs-serve: venv
	$(MKDOCS) serve --dev-addr $(DOCS_ADDR)

serve: venv
	$(BIN)/wikibot-auth serve $(SERVE_ARGS)

# The two Lambda artifacts (docs/deploying-aws.md), for arm64 / Python 3.12
# whatever machine builds them: pip takes only wheels made for that platform
# (cryptography's and dependency-injector's .so files are aarch64 ones) and
# compiles no .pyc (this machine's Python may not be 3.12). A Lambda function's
# code is read-only, so without .pyc every cold start compiles every module
# again (about three times the CPU of importing them compiled: see
# docs/performance.md); a Python 3.12 (LAMBDA_PYTHON, by default python3.12
# on PATH, else pyenv's) compiles them, as unchecked hashes (a zip keeps no exact
# mtime) that name /var/task in tracebacks. Without one the packages hold no
# .pyc, and the build says so.
#   $(LAMBDA_DIR)/authorizer: the base package (no web framework)
#   $(LAMBDA_DIR)/login:      the package with the `lambda` extra (Mangum, Starlette)
# The project is built once as a pure-Python wheel, from a copy of its sources
# (an in-tree build would reuse whatever an older build left in build/lib).
LAMBDA_DIR ?= build/lambda
LAMBDA_TARGET := --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 \
  --implementation cp --python-version 3.12 --only-binary=:all: --no-compile
LAMBDA_SOURCES := pyproject.toml setup.py README.md src
LAMBDA_PYTHON ?= $(firstword $(foreach python,python3.12 \
  $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12),$(shell $(python) -c \
  'import sys; assert sys.version_info[:2] == (3, 12); print(sys.executable)' \
  2>/dev/null)))

lambda: venv
	rm -rf $(LAMBDA_DIR)/authorizer $(LAMBDA_DIR)/login $(LAMBDA_DIR)/.source \
	  $(LAMBDA_DIR)/.wheel
	mkdir -p $(LAMBDA_DIR)/.source
	tar -c --exclude=__pycache__ --exclude='*.egg-info' $(LAMBDA_SOURCES) \
	  | tar -x -C $(LAMBDA_DIR)/.source
	$(PIP) wheel --no-deps --wheel-dir $(LAMBDA_DIR)/.wheel $(LAMBDA_DIR)/.source
	$(PIP) install $(LAMBDA_TARGET) --target $(LAMBDA_DIR)/authorizer \
	  $(LAMBDA_DIR)/.wheel/*.whl
	$(PIP) install $(LAMBDA_TARGET) --target $(LAMBDA_DIR)/login \
	  "$$(echo $(LAMBDA_DIR)/.wheel/*.whl)[lambda]"
	rm -rf $(LAMBDA_DIR)/authorizer/bin $(LAMBDA_DIR)/login/bin \
	  $(LAMBDA_DIR)/.source $(LAMBDA_DIR)/.wheel
	$(if $(LAMBDA_PYTHON),for function in authorizer login; do \
	  $(LAMBDA_PYTHON) -m compileall -q -j0 --invalidation-mode unchecked-hash \
	    -s $(LAMBDA_DIR)/$$function -p /var/task $(LAMBDA_DIR)/$$function \
	    || exit 1; done,@echo "warning: no Python 3.12 (LAMBDA_PYTHON): the packages \
	hold no .pyc, and every cold start will compile every module")
	du -sh $(LAMBDA_DIR)/authorizer $(LAMBDA_DIR)/login

# Benchmarks (never part of `make test`): peers come from the `bench` extra;
# dynalite (npm) for the store rows; the Lambda section builds .bench-venv itself.
bench: venv node_modules/.package-lock.json
	$(PIP) install -e ".[test,bench]" $(EDITABLE)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .bench-venv $(MOTO_VENV) node_modules build *.egg-info src/*.egg-info \
	  .pytest_cache .mypy_cache .ruff_cache .hypothesis

# dynalite (a DynamoDB-compatible server for the user store tests) and
# oidc-provider (the OpenID peer of the OIDC adapter tests), pinned in
# package-lock.json; reinstalled only when the lock file is newer than the install.
test: node_modules/.package-lock.json

node_modules/.package-lock.json: package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --no-audit --no-fund --loglevel=error; \
	elif [ "$$CI" = "true" ]; then \
	  echo "npm is required under CI=true (dynalite, oidc-provider)" >&2; exit 1; \
	else \
	  echo "npm not found: the dynalite and oidc-provider tests will be skipped" >&2; \
	fi

# moto's standalone server (the KMS tests over real HTTP), in its own virtualenv:
# moto[server] brings pydantic-settings, which dependency-injector imports
# whenever it is installed, so it stays out of .venv. Reinstalled only when this
# Makefile changes; without it the server tests skip, except under CI=true.
MOTO_VENV := .moto-venv
MOTO_SERVER_SPEC := moto[server]>=5.1,<6
test bench: $(MOTO_VENV)/.stamp

$(MOTO_VENV)/.stamp: Makefile
	test -x $(MOTO_VENV)/bin/python || $(PYTHON) -m venv $(MOTO_VENV)
	$(MOTO_VENV)/bin/pip --disable-pip-version-check -q install "$(MOTO_SERVER_SPEC)"
	touch $@
