# Two commands on a fresh machine:
#   make run   installs, builds the demo tenant, starts its emulator and the dashboard
#   make test  installs (Chromium too, where it can) and runs the whole suite

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: run test install chromium lint stop-demo

# The demo has no sign-in: it listens on this machine only. PORT=8502 make run
# (or make run PORT=8502) chooses another port.
PORT ?= 8501

run: install
	$(PY) -m tvmdata demo up
	TVM_DEMO=true $(VENV)/bin/streamlit run dashboard.py \
	  --server.address 127.0.0.1 --server.port $(PORT)

test: install chromium
	$(PY) -m pytest

install: $(INSTALLED)

$(INSTALLED): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(INSTALLED)

# Browser tests use Debian's Chromium; nothing downloads a browser at run time.
chromium:
	@test -x /usr/bin/chromium || apt-get install -y -q chromium >/dev/null 2>&1 \
	  || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1) \
	  || echo "Chromium could not be installed: browser tests will be skipped."

lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

stop-demo: install
	$(PY) -m tvmdata demo down
