# LiveHead: `make demo` and `make test` do all set-up on a fresh Linux machine with Python 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test soak sysdeps clean gpu-check gpu-check-media

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

# The GPU check (issue 11). gpu-check-media records the clip's tracking once, where MediaPipe and
# ../shared/media are; gpu-check runs on the CUDA machine (the venv's python, else python3 with the
# repository on PYTHONPATH) and writes gpu-check-results/summary.md and every JSON.
GPU_PYTHON ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,python3)

gpu-check-media: $(STAMP)
	$(BIN)/python tools/gpu_check.py prepare --out gpu-check-media

gpu-check:
	PYTHONPATH=$(CURDIR) $(GPU_PYTHON) tools/gpu_check.py run --media gpu-check-media --out gpu-check-results

clean:
	rm -rf $(VENV) demo.mp4 .pytest_cache gpu-check-results
