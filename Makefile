# LiveHead: `make demo` and `make test` do all set-up on a fresh Linux machine with Python 3.10–3.12.
# Both install everything (the neural extra too) from requirements.lock (exact versions; `make lock`
# refreshes it) into .venv.
# Elsewhere (Windows, macOS): pip install -e ".[neural,test]" -c requirements.lock, then
# python -m livehead demo / python -m pytest.
PYTHON ?= $(shell tools/find_python 3.11 3.12 3.10)
VENV ?= .venv
BIN := $(VENV)/bin
LOCK := requirements.lock
# what `make test` installs; CI's other Pythons use EXTRAS=test (no torch: gigabytes of CUDA wheels there)
EXTRAS ?= neural,test
PIP := $(BIN)/python -m pip --quiet

.PHONY: demo test test-quick soak lock sysdeps clean

$(VENV)/.python:
	@test -n "$(PYTHON)" || { tools/find_python 3.11 3.12 3.10 >/dev/null; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	echo "$(PYTHON)" > $@

$(VENV)/.installed-%: $(VENV)/.python pyproject.toml $(LOCK)
	$(PIP) install -c $(LOCK) -e ".[$*]"
	touch $@

demo: $(VENV)/.installed-$(EXTRAS)
	$(BIN)/livehead demo --output demo.mp4

test: $(VENV)/.installed-$(EXTRAS) sysdeps
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

soak: $(VENV)/.installed-$(EXTRAS)
	$(BIN)/python -m pytest -q -m slow tests/pipeline/test_soak.py

# Refresh requirements.lock for every supported Python (Linux x86_64, the dev/CI machines) with uv;
# versions already in the lock are kept unless UPGRADE=1.
lock:
	@test -n "$(PYTHON)" || { tools/find_python 3.11 3.12 3.10 >/dev/null; exit 1; }
	test -x .venv-tools/bin/uv || { $(PYTHON) -m venv .venv-tools && .venv-tools/bin/python -m pip --quiet install "uv>=0.5"; }
	UV_PYTHON_DOWNLOADS=never .venv-tools/bin/uv pip compile pyproject.toml --universal --python-version 3.10 \
		--extra neural --extra test $(if $(UPGRADE),--upgrade) --quiet -o $(LOCK)

# System packages for the GUI/hotkey tests (preview window driven with xdotool under Xvfb).
sysdeps:
	@if ! command -v Xvfb >/dev/null || ! command -v xdotool >/dev/null; then \
		if [ "$$(id -u)" = "0" ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xvfb xdotool >/dev/null; \
		elif command -v sudo >/dev/null; then \
			sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xvfb xdotool >/dev/null; \
		else \
			echo "note: install xvfb and xdotool for the preview-window tests (apt-get install xvfb xdotool)"; \
		fi; \
	fi

clean:
	rm -rf .venv .venv3* .venv-tools demo.mp4 .pytest_cache build dist
