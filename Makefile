# One-command setup on a machine without ROS 2 (Debian/Ubuntu, Python >= 3.10).
#   make demo   set up .venv and run the main job (simulation)
#   make test   set up .venv and run the test suite
# On a ROS 2 machine use colcon instead (see README).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.imitation_ros-installed
LAYOUT := $(VENV)/.imitation_ros-layout
# Pure-Python wheels of the launch stack and ros2cli (not on PyPI): installed when present.
LAUNCH_WHEELS ?= ../shared/wheels/ros2-launch
LAUNCH_STAMP := $(VENV)/.ros2-launch-installed
DEMO_ARGS ?=
TEST_ARGS ?=
SHARE := $(VENV)/share/imitation_ros
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: setup launch-stack demo test lint clean

setup: $(STAMP) $(LAYOUT) launch-stack

$(STAMP): requirements.txt requirements-ros.txt setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements-ros.txt -r requirements.txt
	$(PIP) --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The package laid out in the venv as `colcon build --symlink-install` lays it out, so that
# `ros2 launch imitation_ros ...` and `ros2 run imitation_ros ...` find it: the ament index
# marker, package.xml, launch/, config/, models/ and urdf/ under share/imitation_ros (links to this
# checkout), the executables under lib/imitation_ros; activate sets AMENT_PREFIX_PATH.
$(LAYOUT): $(STAMP) package.xml $(wildcard launch/*.py config/*.yaml models/* urdf/*)
	mkdir -p $(VENV)/share/ament_index/resource_index/packages $(VENV)/lib/imitation_ros
	touch $(VENV)/share/ament_index/resource_index/packages/imitation_ros
	rm -rf $(SHARE) && mkdir -p $(SHARE)/launch $(SHARE)/config $(SHARE)/models $(SHARE)/urdf
	ln -s $(CURDIR)/package.xml $(SHARE)/package.xml
	for f in launch/*.py config/*.yaml models/* urdf/*; do ln -s $(CURDIR)/$$f $(SHARE)/$$f; done
	for exe in $$($(PY) -c "import importlib.metadata as m; print(*[e.name for e in \
	    m.distribution('imitation_ros').entry_points if e.group == 'console_scripts'])"); do \
	  ln -sfn ../../bin/$$exe $(VENV)/lib/imitation_ros/$$exe; done
	grep -q AMENT_PREFIX_PATH $(VENV)/bin/activate || printf '%s\n' \
	  'export AMENT_PREFIX_PATH="$$VIRTUAL_ENV$${AMENT_PREFIX_PATH:+:$$AMENT_PREFIX_PATH}"' \
	  >> $(VENV)/bin/activate
	touch $(LAYOUT)

launch-stack: $(STAMP)
	@if [ -d "$(LAUNCH_WHEELS)" ]; then \
	  if [ ! -f $(LAUNCH_STAMP) ]; then \
	    $(PIP) -r requirements-launch.txt && \
	    $(PIP) --no-deps $(LAUNCH_WHEELS)/*.whl && touch $(LAUNCH_STAMP); \
	  fi; \
	else echo "launch stack: $(LAUNCH_WHEELS) not found; ros2 launch and the launch tests \
	need it (LAUNCH_WHEELS=DIR, see docs/ros.md)"; fi

demo: setup
	$(VENV)/bin/imitation-ros demo $(DEMO_ARGS)

test: setup
	$(PY) -m pytest -q $(TEST_ARGS) test

lint: setup
	$(PY) -m pytest -q test/test_flake8.py test/test_pep257.py test/test_copyright.py

clean:
	rm -rf $(VENV) build install log *.egg-info
