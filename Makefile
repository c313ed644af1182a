# LiveHead: `make demo` and `make test` do all set-up on a fresh Linux machine with Python 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test soak sysdeps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/livehead demo --output demo.mp4

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

test: $(STAMP) sysdeps
	$(BIN)/python -m pytest -q

soak: $(STAMP)
	$(BIN)/python -m pytest -q -m slow tests/test_soak.py

clean:
	rm -rf $(VENV) demo.mp4 .pytest_cache
