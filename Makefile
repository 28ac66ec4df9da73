# The two commands a fresh machine needs (see README):
#   make quickstart   install zonesync in .venv and run the main job (sync) on the embedded default
#   make test         install everything the tests need and run the whole suite (.ci/run runs this)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: quickstart test install install-test system-packages bench-deps bench clean

$(BIN)/zonesync: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

install: $(BIN)/zonesync

quickstart: install
	$(BIN)/zonesync validate
	$(BIN)/zonesync sync
	$(BIN)/zonesync dns-serve --listen 127.0.0.1:5353 & pid=$$!; \
	  sleep 1; \
	  $(BIN)/zonesync resolve --nameserver 127.0.0.1:5353 'sip:alex@mysite.ru'; rc=$$?; \
	  $(BIN)/zonesync verify >/dev/null && echo "verify: ok (zones/ == live DNS on 127.0.0.1:5353)"; \
	  kill $$pid; exit $$rc

# apt-get install of what the tests talk to (BIND, PowerDNS, sip-dig, git…): .ci/packages.txt
system-packages:
	.ci/install-system-packages

# apt-get install of what the benchmarks need beyond the tests (dnsperf): bench/packages.txt.
# Not part of `make test` or CI: benchmarks stay out of CI.
bench-deps:
	.ci/install-system-packages bench/packages.txt

# The whole benchmark suite (the README's performance tables), printed and kept in
# bench/results.txt. Needs what the tests need (system-packages) plus dnsperf.
bench: system-packages bench-deps install
	bench/run

test: system-packages install
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .zonesync
