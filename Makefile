# The two commands a fresh machine needs (see README):
#   make quickstart   install zonesync in .venv and run the main job on zones/
#   make test         install everything the tests need and run the whole suite (.ci/run runs this)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: quickstart test install install-test system-packages clean

$(BIN)/zonesync: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

install: $(BIN)/zonesync

quickstart: install
	$(BIN)/zonesync validate
	$(BIN)/zonesync compile $(basename $(notdir $(wildcard zones/*.yaml)))
	$(BIN)/zonesync resolve --from-zones 'sip:alex@mysite.ru'
	$(BIN)/zonesync resolve --from-zones 'sips:alex@mysite.ru'

system-packages:
	.ci/install-system-packages

test: system-packages install
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .zonesync
