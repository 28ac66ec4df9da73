"""The fast YAML reader gives exactly PyYAML's data, or declines (None) — never something else."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from zonesync import fastyaml

ROOT = Path(__file__).resolve().parent.parent
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def same(a, b) -> bool:
    """Equal and of the same types all the way down (True is not 1), dict order included."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def pyyaml(text: str):
    try:
        return yaml.load(text, Loader=LOADER)
    except yaml.YAMLError:
        return yaml.YAMLError


def check(text: str) -> object:
    fast = fastyaml.load(text, 100_000)
    if fast is not None:
        slow = pyyaml(text)
        assert same(fast, slow), (text, fast, slow)
    return fast


ACCEPTED = [
    "domain: x.example\nsip:\n  - transport: udp\n    targets: [{host: sip.x.example}]\n",
    "domain: x.example  # comment\n# whole-line comment\n\nsip:\n- transport: tls\n  order: 5\n"
    "  targets:\n    - {host: a.x.example, port: 5061, priority: 0, weight: -3}\n",
    "hosts:\n  sip.x.example: [192.0.2.1, '2001:db8::1', \"::1\"]\n  b.x.example: 2001:db8::2\n",
    "naptr: no\nadopt: On\nttl: +60\nzone: ~\nproviders: []\ndisabled: [ws, wss]\nx: {}\n",
    "a:\nb:\n  c:\n    - 1\n    -\n    - d: e\n      f: [g, [h], {i: j}]\n",
    "\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444: \"\u0440\u0444\"\n",
    "key: value   \n",
]

DECLINED = [
    "", "# only a comment\n", "~\n", "- a\n", "just text\n", "--- \na: 1\n", "a: 1\n...\n",
    "a: 1\na: 2\n", "a: 1\n'a': 2\n", "a: &x 1\nb: *x\n", "a: !!str 1\n", "a: |\n  text\n",
    "a: >\n  text\n", "a: 05060\n", "a: 1:30\n", "a: 0x10\n", "a: 1.5\n", "a: 2024-01-01\n",
    "a: b\n  c\n", "a: \"x\\ty\"\n", "a: 'it''s'\n", "a: [1, 2,]\n", "a: [1,\n  2]\n",
    "a:\tb\n", "a: b\r\n", "5: x\n", "yes: x\n", "~: x\n", "a: {b}\n", "a: {b: 1, b: 2}\n",
    "a: b # c\n  d: e\n", "a: x y\n", "a: [x y]\n", "a: [a:b]\n", "<<: {a: 1}\n",
    "a:\n  - - x\n", "? a\n: b\n", "a: @x\n", "a: `x`\n", "a: %x\n", "a: \"x\"y\n",
    "a: 1\n - b\n", " a: 1\n", "a: \x00\n", "a: \u2028\n", "a: \ufeffx\n",
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_accepted_documents_match_pyyaml(text):
    assert check(text) is not None


@pytest.mark.parametrize("text", DECLINED)
def test_unsure_documents_are_declined(text):
    assert fastyaml.load(text, 100_000) is None


def test_shipped_yaml_files_match_pyyaml():
    files = [p for p in ROOT.rglob("*.y*ml") if ".venv" not in p.parts and ".git" not in p.parts]
    assert files
    for path in files:
        check(path.read_text(encoding="utf-8"))


def test_node_budget_declines():
    text = "a: [" + ", ".join("1" for _ in range(50)) + "]\n"
    assert fastyaml.load(text, 10) is None and fastyaml.load(text, 100) is not None


PIECES = ["a", "b", "sip", "x.example", "-", "- ", "  ", "    ", ": ", ":", " ", "\n", "#",
          " #c", "[", "]", "{", "}", ",", ", ", "'", '"', "1", "0", "07", "1:2", "yes", "~",
          "null", "true", "2001:db8::1", "-5", ".5", "&a", "*a", "!", "|", "?", "---", "\t",
          "\u0440", "_", "5060", "{host: a.b, port: 1}", "[1, b]"]


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=40))
def test_random_snippets_match_pyyaml_or_are_declined(pieces):
    check("".join(pieces))


LINES = ["domain: x.example", "sip:", "  - transport: udp", "- transport: tls", "    targets:",
         "      - {host: a.x.example, weight: 60}", "  targets: [{host: b.x.example}]",
         "hosts:", "  a.x.example: [192.0.2.1, \"2001:db8::1\"]", "  b.x.example: 192.0.2.2",
         "    order: 10", "  preference: 50 # c", "disabled: [sctp]", "naptr: false", "",
         "# comment", "  -", "    - a", "      b: c", "   x: y", "ttl: 300", "  - a: 1",
         "    b: [1, {c: d}]", "zone: x.example."]


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(LINES), min_size=1, max_size=15))
def test_random_line_documents_match_pyyaml_or_are_declined(lines):
    check("\n".join(lines) + "\n")
