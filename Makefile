# The README's two commands, `make lab` and `make test`, and what they need.
# Everything the Makefile makes lives in .venv/ and .cache/ (images, wheels,
# lab state), reused when present.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CACHE := .cache
export CONTAINERS_CONF := $(CURDIR)/lab/containers.conf
export PATH := $(CURDIR)/$(BIN):$(PATH)
export PIP_CACHE_DIR := $(CURDIR)/$(CACHE)/pip
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

# Debian packages the suite needs on a fresh (even minimal) Debian 12, installed when
# missing; `make` itself is the one prerequisite.
# - podman and its parts: runc (crun fails on cgroups v1), debootstrap for the base image.
# - golang-github-containernetworking-plugin-dnsname: the stand-ins find each other by name
#   (crdsdb, crdsmail). Debian 12's podman uses the CNI network backend, and CNI resolves
#   container names only with this plugin. Chosen over netavark + aardvark-dns because
#   podman here already runs CNI: switching backends needs `podman system reset`, which
#   would drop every image and container on the machine.
# - python3-venv, python3-dev, build-essential, pkg-config, libmariadb-dev: the suite's venv
#   and what compiling mod_wsgi (the app tests' stack) and mysqlclient from source needs.
# - apache2, apache2-dev, libapache2-mod-xsendfile, memcached: the app tests serve the app
#   with Apache + mod_wsgi and a private memcached, as the servers do.
# - openssh-client, rsync, git, iproute2 (ss), ca-certificates: reaching the lab, the
#   benchmarks' baselines, the app wheel's snapshot, port checks, TLS.
# - chromium, chromium-driver: the app's web pages are tested in a real headless browser
#   (tests/browser): Selenium drives Debian's Chromium through its chromedriver, so no
#   browser is downloaded.
SYSTEM_PACKAGES := podman runc debootstrap uidmap slirp4netns iptables \
	golang-github-containernetworking-plugin-dnsname \
	python3 python3-venv python3-dev build-essential pkg-config libmariadb-dev \
	apache2 apache2-dev libapache2-mod-xsendfile memcached \
	chromium chromium-driver \
	openssh-client rsync curl git iproute2 ca-certificates

STAGE := bin/stage

.PHONY: help
help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(CACHE)/system.stamp: Makefile bin/system-packages
	@mkdir -p $(CACHE)
	@$(STAGE) run packages bin/system-packages $(SYSTEM_PACKAGES)
	@touch $@

.PHONY: system
system: $(CACHE)/system.stamp  ## install the Debian packages the suite needs

$(BIN)/.stamp: requirements/suite.txt app/pyproject.toml | $(CACHE)/system.stamp
	@$(STAGE) run venv bash -euc 'test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
		echo "installing the pinned suite into $(VENV)"; \
		$(BIN)/pip install -q -r requirements/suite.txt; \
		$(BIN)/pip install -q --no-deps -e app'
	@touch $@

.PHONY: venv
venv: $(BIN)/.stamp  ## the project virtualenv with the pinned suite

.PHONY: lock
lock:  ## re-pin requirements/suite.txt from suite.in
	$(BIN)/pip install -q pip-tools
	$(BIN)/pip-compile -q --strip-extras --no-emit-index-url --no-emit-find-links \
		-o requirements/suite.txt requirements/suite.in

.PHONY: images
images: venv  ## build (or reuse) the lab's base and stand-in images
	@$(STAGE) run image $(BIN)/invoke lab.images

# `make lab` prints each stage as it starts, its time when it ends, and a table of them
# with the total at the end (also when a stage fails).
.PHONY: lab lab-stages
lab:  ## bring up the lab fleet, converge it, print where each server answers
	@$(STAGE) reset
	@$(MAKE) --no-print-directory lab-stages || { $(STAGE) summary; exit 1; }
	@$(STAGE) summary

lab-stages: images
	@$(STAGE) run wheelhouse $(BIN)/ansible-playbook playbooks/wheelhouse.yml -i inventories/lab
	@$(STAGE) run stand-ins $(BIN)/invoke lab.up
	@$(STAGE) run converge $(BIN)/ansible-playbook site.yml -i inventories/lab
	@$(STAGE) run where $(BIN)/invoke lab.status

.PHONY: lab-down
lab-down: venv  ## remove the lab's containers, network and volumes
	$(BIN)/invoke lab.down --yes

# Role scenarios (podman, the lab's stand-in image; nothing is downloaded by a container).
# `make molecule` runs every role's scenario (about 30 min on 2 cores); MOLECULE_SCENARIOS
# picks some. `make test` runs TEST_MOLECULE_SCENARIOS, crds_server: the whole site.yml on
# a fresh host with idempotence, the apache scenario's port switch and both scenarios'
# testinfra checks (one stack build where two scenarios took two); the other five
# (memcached, mail_sink, database, stack_build, apache) run in the nightly workflow (.github/workflows/nightly.yml), which keeps `make test`
# within CI's time. Their roles are converged on the lab in every `make test` all the same
# (idempotence and check mode on ten hosts), and the database's least-privilege and
# wrong-password checks run there too (tests/roles/test_database_lab.py).
# bin/molecule-test refuses an empty list, a scenario without tests and a verify that ran
# none.
MOLECULE_SCENARIOS := memcached mail_sink database stack_build crds_server apache
TEST_MOLECULE_SCENARIOS := crds_server
NIGHTLY_MOLECULE_SCENARIOS := $(filter-out $(TEST_MOLECULE_SCENARIOS),$(MOLECULE_SCENARIOS))

.PHONY: molecule
molecule: images  ## molecule test the role scenarios (MOLECULE_SCENARIOS)
	bin/molecule-test $(MOLECULE_SCENARIOS)

.PHONY: lint
lint: venv  ## yamllint, ansible-lint (production profile), ruff
	$(BIN)/yamllint --strict .
	$(BIN)/ansible-lint --profile production
	$(BIN)/ruff check .

.PHONY: test
# Three streams side by side, from the start, each in the order that keeps its state
# meaningful:
# - the lab tests (marker `lab`): the lab tool's own throw-away labs, then the session's
#   converged lab fleet (roles acceptance first, then ops and cron, which change servers);
#   printed as they run. The scale test (tests/scale, a catalog the size of HST ops: about
#   15 min of the lab alone) runs in `make nightly`, which keeps `make test` within CI's time.
# - every other test (`not lab`): unit tests, the app under Apache + mod_wsgi with the real
#   client, the web pages in Chromium, the cron jobs on a local server (.cache/pytest/local.log,
#   printed when the lab tests end).
# - the role scenarios, in their own containers (.cache/molecule/make-test.log).
# The lab tests wait on the stand-ins for much of their time (one core idles while a
# server restarts or a backup streams), so the streams share the two cores well: together
# they take about the lab tests' time alone. The lab tests are the longest stream, so the
# other two run at a lower priority (nice 5): they fill the cores the lab tests leave idle
# instead of slowing the lab's first converge (23 min beside them at one priority, against
# about 13 min alone). The streams share no port (the app tests
# listen on 127.0.0.1, the labs on their own 127.0.x.y blocks) and no state.
# The lists are the Makefile's own (`:=`, so the environment cannot empty or change them;
# `make test TEST_PATHS=...` on the command line still can), and an empty one is refused;
# the two markers split every collected test between the streams, so none is left out.
# pytest's exit code 5 (nothing collected) is a failure in either stream; under CI=true a
# skipped test is one too (tests/conftest.py); every test has a timeout. The summaries list
# the slowest tests and the slowest tasks of each site.yml run on the lab: where time goes.
TEST_PATHS := tests/unit tests/test_inventory.py tests/app tests/browser tests/lab tests/roles \
	tests/ops tests/cron
PYTEST_ARGS :=
test: venv lint images  ## install what the tests need and pass them
	$(if $(strip $(TEST_PATHS)),,$(error TEST_PATHS is empty: nothing would be tested))
	$(if $(strip $(TEST_MOLECULE_SCENARIOS)),,$(error TEST_MOLECULE_SCENARIOS is empty))
	@mkdir -p $(CACHE)/molecule $(CACHE)/pytest; \
	mol_log=$(CACHE)/molecule/make-test.log; local_log=$(CACHE)/pytest/local.log; \
	nice -n 5 bin/molecule-test $(TEST_MOLECULE_SCENARIOS) > $$mol_log 2>&1 & mol=$$!; \
	echo "role scenarios ($(TEST_MOLECULE_SCENARIOS)) run beside pytest: $$mol_log"; \
	CRDS_TEST_LAB_CONVERGED= nice -n 5 $(BIN)/pytest -p no:cacheprovider --durations=20 -m "not lab" \
		$(PYTEST_ARGS) $(TEST_PATHS) > $$local_log 2>&1 & loc=$$!; \
	echo "the tests that need no lab run beside the lab tests: $$local_log"; \
	rc=0; CRDS_TEST_LAB_CONVERGED= $(BIN)/pytest --durations=30 -m lab \
		$(PYTEST_ARGS) $(TEST_PATHS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no lab tests: failing" >&2; fi; \
	lrc=0; wait $$loc || lrc=$$?; \
	echo "==== the tests that need no lab ($$local_log)"; cat $$local_log; \
	if [ $$lrc -eq 5 ]; then echo "pytest collected no tests that need no lab: failing" >&2; fi; \
	mrc=0; wait $$mol || mrc=$$?; \
	grep -a "molecule scenario" $$mol_log || true; \
	if [ $$mrc -ne 0 ]; then tail -n 150 $$mol_log; echo "role scenarios FAILED" >&2; fi; \
	[ $$rc -eq 0 ] && [ $$lrc -eq 0 ] && [ $$mrc -eq 0 ]

.PHONY: molecule-nightly
molecule-nightly: images  ## the role scenarios make test leaves to the nightly workflow
	bin/molecule-test $(NIGHTLY_MOLECULE_SCENARIOS)

.PHONY: timing
timing: venv  ## converge the lab with per-task and per-role timing
	ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks,ansible.posix.profile_roles \
		$(BIN)/ansible-playbook site.yml -i inventories/lab

# The lab is CRDS_LAB_NAME/CRDS_LAB_BLOCK (default crdslab on 127.0.1.x); the cron and scale
# tests at the end run against that same lab (CRDS_TEST_LAB_*, which tests/fleetlab.py reads), which
# was converged a moment before (CRDS_TEST_LAB_CONVERGED). Any server's failed nightly
# fails the target, named, before the tests.
.PHONY: nightly
NIGHTLY_SERVERS ?= jwst-dev jwst-test hst-dev hst-test jwst-ops hst-ops jwst-bit jwst-cit
nightly: export CRDS_LAB_NAME := $(or $(CRDS_LAB_NAME),crdslab)
nightly: export CRDS_LAB_BLOCK := $(or $(CRDS_LAB_BLOCK),1)
nightly: export CRDS_TEST_LAB_NAME := $(or $(CRDS_LAB_NAME),crdslab)
nightly: export CRDS_TEST_LAB_BLOCK := $(or $(CRDS_LAB_BLOCK),1)
nightly: export CRDS_TEST_LAB_CONVERGED := 1
nightly: export CRDS_INVENTORY := lab
nightly: images  ## the nightly job on the lab: up, converge, seed, nightly per server, cron and scale tests
	@echo "nightly on the lab $$CRDS_LAB_NAME (127.0.$$CRDS_LAB_BLOCK.x)"
	$(BIN)/invoke lab.up
	$(BIN)/ansible-playbook site.yml -i inventories/lab
	@for s in $(NIGHTLY_SERVERS); do \
		$(BIN)/invoke manage --server $$s --yes -- seed_demo >/dev/null || exit $$?; \
	done
	@failed=""; for s in $(NIGHTLY_SERVERS); do \
		echo "== nightly $$s"; $(BIN)/invoke nightly --server $$s --yes || failed="$$failed $$s"; \
	done; \
	if [ -n "$$failed" ]; then echo "nightly FAILED on:$$failed (cron tests not run)" >&2; exit 1; fi
	$(BIN)/pytest -q tests/cron tests/scale
