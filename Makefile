# One-command setup on a machine without ROS 2 (Debian/Ubuntu, Python >= 3.10).
#   make demo   set up .venv and run the main job (simulation)
#   make test   set up .venv and run the test suite
# On a ROS 2 machine use colcon instead (see README).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.imitation_ros-installed
DEMO_ARGS ?=
TEST_ARGS ?=

.PHONY: setup demo test lint clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-ros.txt setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-ros.txt -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: setup
	$(VENV)/bin/imitation-ros demo $(DEMO_ARGS)

test: setup
	$(PY) -m pytest -q $(TEST_ARGS) test

lint: setup
	$(PY) -m pytest -q test/test_flake8.py test/test_pep257.py test/test_copyright.py

clean:
	rm -rf $(VENV) build install log *.egg-info
