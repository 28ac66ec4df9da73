"""The HTTP service through Flask's test client and the app factory.

Each test gets a tmp copy of zones/ and providers/ (the embedded default provider) and its own
state directory; the app's job runner runs in the test process. Every response each test saw and
everything logged are checked for secrets (the tokens, the webhook secret) at teardown.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

from tests.dnsservers import require_binary
from tests.helpers import ROOT, cli
from zonesync.api import create_app
from zonesync.store import Store

TOKENS = {   # name: (scopes, token)
    "reader": ("read", "rd-0123456789abcdef-reader"),
    "syncer": ("sync", "sy-0123456789abcdef-syncer"),
    "writer": ("write", "wr-0123456789abcdef-writer"),
    "admin": ("read,sync,write", "ad-0123456789abcdef-admin"),
}
WEBHOOK_SECRET = "whsec-0123456789abcdef-hook"
SECRETS = [token for _, token in TOKENS.values()] + [WEBHOOK_SECRET]
TERMINAL = ("succeeded", "failed")

NEW = {   # a description with no findings: TLS, TCP, UDP on one host
    "domain": "new.example",
    "hosts": {"sip.new.example": ["192.0.2.50"]},
    "sip": [
        {"transport": "tls", "targets": [{"host": "sip.new.example", "port": 5071}]},
        {"transport": "tcp", "targets": [{"host": "sip.new.example", "port": 5070}]},
        {"transport": "udp", "targets": [{"host": "sip.new.example", "port": 5070}]},
    ],
}


def make_home(path: Path) -> Path:
    shutil.copytree(ROOT / "zones", path / "zones")
    shutil.copytree(ROOT / "providers", path / "providers")
    return path


def settings(home: Path, zones: Path | None = None, **extra) -> dict:
    return {
        "ZONESYNC_ZONES": str(zones or home / "zones"),
        "ZONESYNC_PROVIDERS": str(home / "providers"),
        "ZONESYNC_STATE_DIR": str(home / "state"),
        "ZONESYNC_TOKENS": ";".join(f"{name}:{scopes}:{token}"
                                    for name, (scopes, token) in TOKENS.items()),
        "ZONESYNC_WEBHOOK_SECRET": WEBHOOK_SECRET,
        **extra,
    }


class Api:
    """A test client that adds a named token and remembers every response."""

    def __init__(self, app):
        self.app = app
        self.client = app.test_client()
        self.seen: list[str] = []
        self._lock = threading.Lock()

    @property
    def service(self):
        return self.app.extensions["zonesync"]

    def call(self, method: str, path: str, token: str | None = None, *, client=None, **kwargs):
        headers = dict(kwargs.pop("headers", {}) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {TOKENS[token][1] if token in TOKENS else token}"
        response = (client or self.client).open(path, method=method, headers=headers, **kwargs)
        with self._lock:
            self.seen.append(f"{response.status} {dict(response.headers)} "
                             f"{response.get_data(as_text=True)}")
        return response

    def wait(self, job_id: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            job = self.call("GET", f"/v1/syncs/{job_id}", "reader").get_json()
            if job["state"] in TERMINAL:
                return job
            assert time.monotonic() < deadline, f"job {job_id} still {job['state']}"
            time.sleep(0.1)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return make_home(tmp_path)


@pytest.fixture
def make_api(home, caplog):
    """Build apps (stopped at the end); then no secret in any response or log line."""
    caplog.set_level("DEBUG")
    made: list[Api] = []

    def make(zones: Path | None = None, **extra) -> Api:
        api = Api(create_app(settings(home, zones, **extra)))
        made.append(api)
        return api

    yield make
    for api in made:
        api.service.stop()
    seen = "\n".join(x for api in made for x in api.seen) + "\n" + caplog.text
    for secret in SECRETS:
        assert secret not in seen, "a secret was shown"


@pytest.fixture
def api(make_api) -> Api:
    return make_api()


def assert_json_error(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    text = response.get_data(as_text=True)
    assert "<html" not in text.lower() and "Traceback" not in text
    body = response.get_json()
    assert set(body) == {"error", "detail"} and isinstance(body["error"], str)
    return body


# --- the provisioning flow -------------------------------------------------------------------------

def test_provisioning_flow_put_sync_resolve(api, home):
    from zonesync.dnsserve import DnsServer
    from zonesync.dnssource import LiveSource
    from zonesync.resolve import resolve

    r = api.call("PUT", "/v1/domains/new.example", "writer", json=NEW)
    assert r.status_code == 201, r.get_json()
    assert r.headers["Location"] == "/v1/domains/new.example"
    body = r.get_json()
    assert body["valid"] and body["findings"] == [] and body["description"] == NEW
    assert {(x["name"], x["type"]) for x in body["records"]} >= {
        ("new.example.", "NAPTR"), ("_sips._tcp.new.example.", "SRV"), ("sip.new.example.", "A")}
    written = home / "zones" / "new.example.yaml"
    assert yaml.safe_load(written.read_text()) == NEW

    r = api.call("POST", "/v1/syncs", "syncer", json={"domains": ["new.example"]})
    assert r.status_code == 202, r.get_json()
    submitted = r.get_json()
    assert submitted["state"] == "queued" and submitted["coalesced"] is False
    assert r.headers["Location"] == f"/v1/syncs/{submitted['id']}"
    job = api.wait(submitted["id"])
    assert job["state"] == "succeeded", job["error"]
    assert job["requested_by"] == "syncer" and job["domains"] == ["new.example"]
    assert job["attempts"] == 1 and set(job["result"]["timings"]) >= {"total_s"}

    # what a caller reaches, over DNS from the zone files the sync wrote: the PUT's targets
    # (an RFC 3263 client takes the first NAPTR's transport, TLS; ;transport= picks another)
    reached = {}
    with DnsServer(home / "state" / "zones", "127.0.0.1", 0) as server:
        source = LiveSource([server.endpoint], timeout=2)
        for uri in ("sip:x@new.example", "sip:x@new.example;transport=tcp",
                    "sip:x@new.example;transport=udp"):
            result = resolve(uri, source)
            assert result.error is None, result.error
            reached[uri] = [(t.transport, t.host, t.port, t.address) for t in result.targets]
    assert reached == {
        "sip:x@new.example": [("tls", "sip.new.example", 5071, "192.0.2.50")],
        "sip:x@new.example;transport=tcp": [("tcp", "sip.new.example", 5070, "192.0.2.50")],
        "sip:x@new.example;transport=udp": [("udp", "sip.new.example", 5070, "192.0.2.50")]}

    domain = api.call("GET", "/v1/domains/new.example", "reader").get_json()
    assert domain["state"]["last_ok"] is True and domain["state"]["last_verified_ok"] is True
    listed = {d["domain"]: d for d in api.call("GET", "/v1/domains", "reader").get_json()["domains"]}
    assert listed["new.example"]["state"]["last_job_id"] == job["id"]
    assert listed["acme.example"]["state"] is None          # not synced yet

    # the same PUT again replaces (200); the domain may be left out of the body
    again = {k: v for k, v in NEW.items() if k != "domain"}
    r = api.call("PUT", "/v1/domains/new.example", "writer", json=again)
    assert r.status_code == 200 and r.get_json()["description"] == NEW

    # DELETE removes the file; a second DELETE is 404
    r = api.call("DELETE", "/v1/domains/new.example", "writer")
    assert r.status_code == 200 and r.get_json()["deleted"] is True
    assert not written.exists()
    assert_json_error(api.call("DELETE", "/v1/domains/new.example", "writer"), 404)
    assert_json_error(api.call("GET", "/v1/domains/new.example", "reader"), 404)


def test_idn_domain_is_written_as_punycode(api, home):
    body = {"hosts": {"sip.пример.рф": ["192.0.2.7"]},
            "sip": [{"transport": t, "targets": [{"host": "sip.пример.рф"}]}
                    for t in ("tls", "tcp", "udp")]}
    r = api.call("PUT", "/v1/domains/пример.рф", "writer", json=body)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["domain"] == "xn--e1afmkfd.xn--p1ai"
    assert (home / "zones" / "xn--e1afmkfd.xn--p1ai.yaml").is_file()
    assert api.call("GET", "/v1/domains/xn--e1afmkfd.xn--p1ai", "reader").status_code == 200
    assert api.call("GET", "/v1/domains/ПРИМЕР.рф", "reader").status_code == 200


# --- validation: exactly the CLI's findings ------------------------------------------------------

BAD = {
    "domain": "bad.example",
    "hosts": {"sip.bad.example": ["192.0.2.1"]},
    "sip": [
        {"transport": "udp", "targets": [{"host": "sip.bad.example", "port": 70000}]},
        {"transport": "tcp", "tragets": [{"host": "sip.bad.example"}]},
        {"transport": "tls", "targets": [{"host": "sbc1", "weight": "heavy"}]},
    ],
}


def cli_findings(tmp: Path, name: str, body: dict) -> tuple[dict, str]:
    """`zonesync validate --json` on the same YAML beside a copy of the same zones/."""
    where = tmp / "cli"
    shutil.copytree(ROOT / "zones", where / "zones")
    text = yaml.safe_dump(body, sort_keys=False, allow_unicode=True)
    (where / "zones" / name).write_text(text, encoding="utf-8")
    run = cli("validate", "--json", cwd=where)
    assert run.returncode == 1, run.stdout + run.stderr
    report = json.loads(run.stdout)
    return {f["file"]: f["findings"] for f in report["files"]}, text


def test_bad_body_422_with_the_clis_findings(api, home, tmp_path):
    before = sorted(p.name for p in (home / "zones").iterdir())
    r = api.call("PUT", "/v1/domains/bad.example", "writer", json=BAD)
    body = assert_json_error(r, 422)
    assert body["error"] == "invalid description"
    by_file, _ = cli_findings(tmp_path, "bad.example.yaml", BAD)
    assert body["detail"] == by_file["zones/bad.example.yaml"]
    rules = {(f["rule"], f["path"]) for f in body["detail"]}
    assert {("number-out-of-range", "sip[0].targets[0].port"), ("schema-missing", "sip[1].targets"),
            ("schema-unknown-key", "sip[1].tragets"), ("schema-type", "sip[2].targets[0].weight")} <= rules
    assert all(f["line"] for f in body["detail"])
    assert sorted(p.name for p in (home / "zones").iterdir()) == before     # nothing written


@pytest.mark.parametrize("name", ["voice.acme.example", "a.acme.example"])
def test_cross_file_errors_block_too(api, home, tmp_path, name):
    # a second description in the zone acme.example gives sbc1 another address: host-conflict,
    # which lint reports on the later file of the two: the new one (voice.…) or acme.example's
    # own (a.… sorts first) — an error the PUT brings into another file blocks it as well
    voice = {"domain": name, "zone": "acme.example",
             "hosts": {"sbc1.acme.example": ["192.0.2.99"]},
             "sip": [{"transport": "tls", "targets": [{"host": "sbc1.acme.example"}]}]}
    r = api.call("PUT", f"/v1/domains/{name}", "writer", json=voice)
    body = assert_json_error(r, 422)
    by_file, _ = cli_findings(tmp_path, f"{name}.yaml", voice)
    mine = by_file[f"zones/{name}.yaml"]
    caused = [f for f in by_file["zones/acme.example.yaml"] if f["severity"] == "error"]
    assert body["detail"] == mine + caused
    assert [f["rule"] for f in body["detail"] if f["severity"] == "error"] == ["host-conflict"]
    assert not (home / "zones" / f"{name}.yaml").exists()


def test_body_domain_must_match_the_path(api, home):
    body = assert_json_error(api.call("PUT", "/v1/domains/other.example", "writer", json=NEW), 422)
    assert "new.example" in body["detail"] and "other.example" in body["detail"]
    # the same name written differently is the same domain
    r = api.call("PUT", "/v1/domains/NEW.example.", "writer", json=NEW)
    assert r.status_code == 201
    # a body that is not a mapping: the loader's message, like the CLI's
    body = assert_json_error(api.call("PUT", "/v1/domains/x.example", "writer", json=[1, 2]), 422)
    assert body["detail"][0]["rule"] == "schema-type"
    assert not (home / "zones" / "x.example.yaml").exists()


def test_path_traversal_and_bad_names_touch_nothing(api, home, tmp_path):
    def snapshot():
        return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")
                      if "state" not in p.relative_to(tmp_path).parts)

    before = snapshot()
    paths = ["/v1/domains/..%2f..%2fetc%2fpasswd", "/v1/domains/..%2fzones%2fevil.example",
             "/v1/domains/%2e%2e", "/v1/domains/..", "/v1/domains/a..b.example",
             "/v1/domains/sbc1", "/v1/domains/a_b.example", "/v1/domains/-bad.example",
             "/v1/domains/192.0.2.1", "/v1/domains/" + "a" * 70 + ".example",
             "/v1/domains/x.example%00", "/v1/domains/%2fetc%2fpasswd", "/v1/domains/.hidden"]
    for path in paths:
        for method in ("GET", "PUT", "DELETE"):
            kwargs = {"json": NEW} if method == "PUT" else {}
            token = "reader" if method == "GET" else "writer"
            r = api.call(method, path, token, **kwargs)
            assert r.status_code in (400, 404), (method, path, r.status_code)
            assert_json_error(r, r.status_code)
    assert snapshot() == before


# --- auth -----------------------------------------------------------------------------------------

# (method, url rule, concrete path, scope, body); every rule of the app must be here or public
AUTHENTICATED = [
    ("GET", "/v1/domains", "/v1/domains", "read", None),
    ("GET", "/v1/domains/<string:domain>", "/v1/domains/acme.example", "read", None),
    ("PUT", "/v1/domains/<string:domain>", "/v1/domains/new.example", "write", NEW),
    ("DELETE", "/v1/domains/<string:domain>", "/v1/domains/srvonly.example", "write", None),
    ("POST", "/v1/syncs", "/v1/syncs", "sync", {"domains": ["acme.example"], "dry_run": True}),
    ("GET", "/v1/syncs", "/v1/syncs?state=queued", "read", None),
    ("GET", "/v1/syncs/<string:job_id>", "/v1/syncs/{job}", "read", None),
    ("POST", "/v1/drift-checks", "/v1/drift-checks", "sync", {"domains": ["acme.example"]}),
    ("GET", "/v1/drift", "/v1/drift", "read", None),
]
PUBLIC = [("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("GET", "/openapi.json")]
SIGNED = [("POST", "/v1/hooks/git")]
HOLDER = {"read": "reader", "sync": "syncer", "write": "writer"}
LACKING = {"read": "syncer", "sync": "writer", "write": "reader"}


def test_every_route_is_in_the_auth_matrix(api):
    declared = {(m, rule) for m, rule, *_ in AUTHENTICATED} | set(PUBLIC) | set(SIGNED)
    for rule in api.app.url_map.iter_rules():
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if rule.endpoint == "static":
                continue
            assert (method, rule.rule) in declared, f"{method} {rule.rule} is not in the matrix"


def test_auth_matrix(api, home):
    job = api.call("POST", "/v1/syncs", "admin", json={"domains": "all", "dry_run": True})
    job_id = job.get_json()["id"]
    for method, _rule, path, scope, body in AUTHENTICATED:
        path = path.replace("{job}", job_id)
        kwargs = {"json": body} if body is not None else {}
        r = api.call(method, path, None, **kwargs)
        assert_json_error(r, 401)
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        r = api.call(method, path, "not-a-token-at-all-0000", **kwargs)
        assert_json_error(r, 401)
        r = api.call(method, path, None, headers={"Authorization": "Basic YWxhZGRpbjpvcGVu"},
                     **kwargs)
        assert_json_error(r, 401)
        r = api.call(method, path, LACKING[scope], **kwargs)
        body403 = assert_json_error(r, 403)
        assert scope in body403["detail"]
        r = api.call(method, path, HOLDER[scope], **kwargs)
        assert 200 <= r.status_code < 300, (method, path, r.status_code, r.get_json())
    for method, path in PUBLIC:
        assert api.call(method, path).status_code == 200, path
    # the webhook takes no token: a token is not a signature
    assert_json_error(api.call("POST", "/v1/hooks/git", "admin", json={}), 401)


def test_config_rejects_bad_tokens(home):
    from zonesync.api.config import ConfigError
    for tokens in ("nocolons", "a:read", "a:admin:0123456789", "a:read:short", "a b:read:0123456789",
                   "a:read:0123456789;a:sync:9876543210", "a:read:0123456789;b:sync:0123456789"):
        with pytest.raises(ConfigError) as info:
            create_app({**settings(home), "ZONESYNC_TOKENS": tokens})
        assert "0123456789" not in str(info.value) and "9876543210" not in str(info.value)


def test_tokens_file(home, tmp_path, caplog):
    path = tmp_path / "tokens"
    path.write_text("# comment\n\nfile-reader:read:file-token-0123456789\n")
    config = {**settings(home), "ZONESYNC_TOKENS": "", "ZONESYNC_TOKENS_FILE": str(path)}
    app = create_app(config)
    try:
        client = app.test_client()
        ok = client.get("/v1/domains", headers={"Authorization": "Bearer file-token-0123456789"})
        assert ok.status_code == 200
        no = client.get("/v1/domains", headers={"Authorization": f"Bearer {TOKENS['admin'][1]}"})
        assert no.status_code == 401
    finally:
        app.extensions["zonesync"].stop()
    assert "file-token-0123456789" not in caplog.text


# --- the git webhook ------------------------------------------------------------------------------

def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.org",
                           "-c", "init.defaultBranch=main", *args], cwd=cwd, check=True,
                          capture_output=True, text=True, timeout=60).stdout.strip()


@pytest.fixture
def repos(tmp_path):
    """A bare remote, a developer's clone that pushes, and the service's clone (its zones/)."""
    require_binary("git", "git")
    remote, dev, svc = tmp_path / "remote.git", tmp_path / "dev", tmp_path / "svc"
    git(tmp_path, "init", "--quiet", "--bare", str(remote))
    git(tmp_path, "init", "--quiet", str(dev))
    shutil.copytree(ROOT / "zones", dev / "zones")
    git(dev, "add", "zones")
    git(dev, "commit", "--quiet", "-m", "zones")
    git(dev, "branch", "-M", "main")
    git(dev, "remote", "add", "origin", str(remote))
    git(dev, "push", "--quiet", "-u", "origin", "main")
    git(remote, "symbolic-ref", "HEAD", "refs/heads/main")
    git(tmp_path, "clone", "--quiet", str(remote), str(svc))
    return remote, dev, svc


def push_change(dev: Path, name: str, edit) -> str:
    path = dev / "zones" / name
    if edit is None:
        git(dev, "rm", "--quiet", str(path.relative_to(dev)))
    else:
        path.write_text(edit(path.read_text()))
        git(dev, "add", str(path.relative_to(dev)))
    git(dev, "commit", "--quiet", "-m", f"change {name}")
    git(dev, "push", "--quiet", "origin", "main")
    return git(dev, "rev-parse", "HEAD")


def signed(body: bytes, secret: str = WEBHOOK_SECRET) -> dict:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Event": "push",
            "Content-Type": "application/json"}


def tree(path: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(path.iterdir()) if p.is_file()}


def test_webhook_forged_changes_nothing_good_one_syncs_diverged_is_409(make_api, home, repos):
    remote, dev, svc = repos
    api = make_api(zones=svc / "zones")
    payload = json.dumps({"ref": "refs/heads/main", "after": "x" * 40}).encode()

    new_head = push_change(dev, "acme.example.yaml",
                           lambda t: t.replace("weight: 60", "weight: 70"))
    head, files = git(svc, "rev-parse", "HEAD"), tree(svc / "zones")
    forged = [
        {},                                                            # no signature
        signed(payload, "not-the-secret"),                             # wrong secret
        {"X-Hub-Signature-256": "sha256=" + "0" * 64},
        {"X-Hub-Signature-256": "garbage"},
        {"X-Gitlab-Token": "not-the-secret"},
        {"X-Gitlab-Token": ""},
    ]
    for headers in forged:
        r = api.call("POST", "/v1/hooks/git", data=payload,
                     headers={"Content-Type": "application/json", **headers})
        assert_json_error(r, 401)
    # a signature over another body does not cover this one
    r = api.call("POST", "/v1/hooks/git", data=payload + b" ", headers=signed(payload))
    assert_json_error(r, 401)
    assert git(svc, "rev-parse", "HEAD") == head and tree(svc / "zones") == files
    assert api.call("GET", "/v1/syncs", "reader").get_json()["jobs"] == []

    # a good one: pulled, the changed domain synced
    r = api.call("POST", "/v1/hooks/git", data=payload, headers=signed(payload))
    assert r.status_code == 202, r.get_json()
    out = r.get_json()
    assert out["old_head"] == head and out["new_head"] == new_head
    assert out["domains"] == ["acme.example"] and out["job"]["state"] == "queued"
    assert git(svc, "rev-parse", "HEAD") == new_head
    job = api.wait(out["job"]["id"])
    assert job["state"] == "succeeded", job["error"]
    assert job["requested_by"] == "git-webhook"
    zone = (home / "state" / "zones" / "acme.example.zone").read_text()
    assert "10 70 5061 sbc1.acme.example." in zone

    # nothing new: 200, no job
    r = api.call("POST", "/v1/hooks/git", data=payload, headers=signed(payload))
    assert r.status_code == 200 and r.get_json()["job"] is None

    # a deleted description (GitLab's token this time): its records are removed
    sync = api.call("POST", "/v1/syncs", "syncer", json={"domains": "all"}).get_json()
    assert api.wait(sync["id"])["state"] == "succeeded"
    assert "_sip._udp.srvonly.example." in (home / "state/zones/srvonly.example.zone").read_text()
    deleted_head = push_change(dev, "srvonly.example.yaml", None)
    r = api.call("POST", "/v1/hooks/git", data=b"{}", headers={
        "X-Gitlab-Token": WEBHOOK_SECRET, "X-Gitlab-Event": "Push Hook",
        "Content-Type": "application/json"})
    assert r.status_code == 202, r.get_json()
    assert r.get_json()["deleted"] == ["zones/srvonly.example.yaml"]
    assert git(svc, "rev-parse", "HEAD") == deleted_head
    job = api.wait(r.get_json()["job"]["id"])
    assert job["state"] == "succeeded", job["error"]
    zone_file = home / "state/zones/srvonly.example.zone"
    assert not zone_file.exists() or "_sip._udp.srvonly.example." not in zone_file.read_text()

    # a write through the API is committed (by the token's name) but not pushed; the remote
    # moves on: the histories diverge, and the webhook refuses to pull (409), changing nothing
    r = api.call("PUT", "/v1/domains/new.example", "writer", json=NEW)
    assert r.status_code == 201 and r.get_json()["commit"]
    assert git(svc, "rev-parse", "HEAD") == r.get_json()["commit"]
    assert git(svc, "log", "-1", "--format=%an") == "writer"
    r = api.call("DELETE", "/v1/domains/new.example", "writer")
    assert r.status_code == 200 and r.get_json()["commit"]
    local = git(svc, "rev-parse", "HEAD")
    assert local == r.get_json()["commit"] and local != head
    assert git(svc, "log", "-1", "--format=%s").startswith("remove new.example")
    assert git(svc, "status", "--porcelain") == ""
    push_change(dev, "mysite.ru.yaml", lambda t: t + "ttl: 600\n")
    files = tree(svc / "zones")
    jobs_before = len(api.call("GET", "/v1/syncs", "reader").get_json()["jobs"])
    r = api.call("POST", "/v1/hooks/git", data=payload, headers=signed(payload))
    body = assert_json_error(r, 409)
    assert "diverged" in body["detail"]["explanation"]
    assert git(svc, "rev-parse", "HEAD") == local and tree(svc / "zones") == files
    assert len(api.call("GET", "/v1/syncs", "reader").get_json()["jobs"]) == jobs_before


def test_git_push_after_a_write(make_api, repos):
    remote, dev, svc = repos
    api = make_api(zones=svc / "zones", ZONESYNC_GIT_PUSH="true")
    r = api.call("PUT", "/v1/domains/new.example", "writer", json=NEW)
    assert r.status_code == 201 and r.get_json()["warnings"] == []
    assert git(remote, "rev-parse", "main") == r.get_json()["commit"] == git(svc, "rev-parse", "HEAD")
    # a push the remote refuses: the write stands, committed, and the answer says so
    git(dev, "pull", "--quiet", "origin", "main")
    push_change(dev, "mysite.ru.yaml", lambda t: t + "ttl: 600\n")
    r = api.call("PUT", "/v1/domains/new.example", "writer", json={**NEW, "ttl": 60})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["commit"] == git(svc, "rev-parse", "HEAD")
    assert r.get_json()["warnings"] and "did not push" in r.get_json()["warnings"][0]


def test_webhook_without_git_or_secret(make_api, home):
    api = make_api()                                   # zones/ is not a git work tree
    payload = b"{}"
    r = api.call("POST", "/v1/hooks/git", data=payload, headers=signed(payload))
    assert_json_error(r, 409)
    unconfigured = make_api(ZONESYNC_WEBHOOK_SECRET="")
    r = unconfigured.call("POST", "/v1/hooks/git", data=payload, headers=signed(payload))
    assert_json_error(r, 401)
    # a ping (not a push) is answered without pulling
    r = api.call("POST", "/v1/hooks/git", data=payload,
                 headers={**signed(payload), "X-GitHub-Event": "ping"})
    assert r.status_code == 200 and r.get_json()["event"] == "ping"


# --- jobs under load ---------------------------------------------------------------------------

def test_50_concurrent_syncs_all_end_and_converge(api, home):
    from zonesync.sync import Workspace, plan_all

    domains = ["acme.example", "mysite.ru", "srvonly.example"]
    rng = random.Random(7)
    requests = [rng.choice([{"domains": "all"}] + [
        {"domains": rng.sample(domains, rng.randint(1, 3))} for _ in range(3)])
        for _ in range(50)]
    answers: list = [None] * 50

    def post(i: int) -> None:
        client = api.app.test_client()
        answers[i] = api.call("POST", "/v1/syncs", "syncer", client=client, json=requests[i])

    threads = [threading.Thread(target=post, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(a is not None and a.status_code == 202 for a in answers), \
        [a.status_code for a in answers if a is not None]
    ids = {a.get_json()["id"] for a in answers}
    jobs = [api.wait(i, timeout=180) for i in ids]
    assert all(j["state"] == "succeeded" for j in jobs), [j["error"] for j in jobs]
    assert all(j["attempts"] == 1 for j in jobs)
    everything = api.call("GET", "/v1/syncs?limit=1000", "reader").get_json()["jobs"]
    assert all(j["state"] in TERMINAL for j in everything)
    workspace = Workspace(home / "zones", home / "providers", str(home / "state"))
    plan = plan_all(workspace.select(), workspace.owner)
    assert not plan.errors and not plan.has_changes


def test_queue_full_is_429_with_retry_after(make_api):
    api = make_api(ZONESYNC_MAX_QUEUE="1", start_runner=False)
    first = api.call("POST", "/v1/syncs", "syncer", json={"domains": ["acme.example"]})
    assert first.status_code == 202
    # a request a queued job covers joins it, even when the queue is full
    joined = api.call("POST", "/v1/syncs", "syncer", json={"domains": ["acme.example"]})
    assert joined.status_code == 202 and joined.get_json()["coalesced"] is True
    assert joined.get_json()["id"] == first.get_json()["id"]
    r = api.call("POST", "/v1/syncs", "syncer", json={"domains": ["mysite.ru"]})
    body = assert_json_error(r, 429)
    assert "full" in body["detail"]
    assert r.headers["Retry-After"].isdigit() and int(r.headers["Retry-After"]) >= 1


def test_sync_requests_are_checked(api):
    for bad in ({"domains": ["nowhere.example"]}, {"domains": ["sbc1"]}, {"domains": []},
                {"domains": "some"}, {"domains": [1]}, {}, {"domains": "all", "extra": 1},
                {"domains": "all", "dry_run": "maybe"}):
        assert_json_error(api.call("POST", "/v1/syncs", "syncer", json=bad), 422)
    r = api.call("POST", "/v1/syncs", "syncer", json={"domains": ["ACME.example."], "dry_run": True})
    assert r.status_code == 202
    job = api.wait(r.get_json()["id"])
    assert job["domains"] == ["acme.example"] and job["dry_run"] is True
    assert job["state"] == "succeeded", job["error"]
    assert "plan" in job["result"]
    listed = api.call("GET", "/v1/syncs?domain=acme.example&state=succeeded", "reader").get_json()
    assert [j["id"] for j in listed["jobs"]] == [job["id"]]
    assert api.call("GET", "/v1/syncs?domain=mysite.ru", "reader").get_json()["jobs"] == []
    assert_json_error(api.call("GET", "/v1/syncs?state=bogus", "reader"), 422)
    assert_json_error(api.call("GET", "/v1/syncs/no-such-job", "reader"), 404)


# --- drift --------------------------------------------------------------------------------------

def test_drift_behind_the_services_back_shows_in_drift_and_metrics(api, home):
    job = api.call("POST", "/v1/syncs", "syncer", json={"domains": "all"}).get_json()
    assert api.wait(job["id"])["state"] == "succeeded"
    path = home / "state" / "zones" / "acme.example.zone"
    text = path.read_text()
    line = "_sip._udp.acme.example.\t3600\tIN\tSRV\t10 50 5060 sbc1.acme.example."
    assert line in text
    path.write_text(text.replace(line, line.replace("5060 sbc1", "5099 sbc1")))

    r = api.call("POST", "/v1/drift-checks", "syncer")          # no body: every domain
    assert r.status_code == 202, r.get_json()
    drift_job = api.wait(r.get_json()["id"])
    assert drift_job["kind"] == "drift" and drift_job["state"] == "succeeded", drift_job["error"]

    reports = api.call("GET", "/v1/drift", "reader").get_json()["reports"]
    by_domain = {(x["domain"], x["provider"]): x for x in reports}
    acme = by_domain[("acme.example", "local")]
    assert acme["state"] == "drift" and acme["drifted"] == 1
    assert any(c["name"] == "_sip._udp.acme.example." for c in acme["checks"])
    assert by_domain[("mysite.ru", "local")]["state"] == "clean"
    only = api.call("GET", "/v1/drift?domain=acme.example", "reader").get_json()["reports"]
    assert [x["domain"] for x in only] == ["acme.example"]
    listed = {d["domain"]: d for d in api.call("GET", "/v1/domains", "reader").get_json()["domains"]}
    assert listed["acme.example"]["drift"] == "drift" and listed["mysite.ru"]["drift"] == "clean"

    metrics = api.call("GET", "/metrics").get_data(as_text=True)
    assert 'zonesync_drifted_rrsets{domain="acme.example",provider="local"} 1.0' in metrics
    assert 'zonesync_drifted_rrsets{domain="mysite.ru",provider="local"} 0.0' in metrics
    assert 'zonesync_drift_state{domain="acme.example",provider="local",state="drift"} 1.0' in metrics
    assert 'zonesync_jobs{state="succeeded"} 2.0' in metrics
    assert 'zonesync_verify_ok{domain="acme.example"} 1.0' in metrics
    assert 'zonesync_last_successful_sync_timestamp_seconds{domain="mysite.ru"}' in metrics
    assert 'zonesync_lint_findings{severity="warning"} 3.0' in metrics
    assert "zonesync_sync_duration_seconds_count 1.0" in metrics
    assert 'zonesync_http_requests_total{method="POST",route="/v1/drift-checks",status="202"} 1.0' \
        in metrics


def test_metrics_count_provider_errors_from_failed_jobs(make_api, home):
    # a provider that rejects its settings: its applies fail, and the metric counts them
    (home / "providers" / "broken.yaml").write_text(
        "class: zonesync.providers.local.LocalProvider\nsettings:\n  nameservers: []\n")
    (home / "zones" / "srvonly.example.yaml").write_text(
        (home / "zones" / "srvonly.example.yaml").read_text() + "providers: [broken]\n")
    api = make_api()
    assert_json_error(api.call("GET", "/readyz"), 503)
    job = api.call("POST", "/v1/syncs", "syncer", json={"domains": ["srvonly.example"]}).get_json()
    done = api.wait(job["id"])
    assert done["state"] == "failed" and "broken" in done["error"]
    metrics = api.call("GET", "/metrics").get_data(as_text=True)
    assert 'zonesync_provider_errors_total{provider="broken"} 1.0' in metrics
    assert 'zonesync_jobs{state="failed"} 1.0' in metrics


# --- errors are JSON -------------------------------------------------------------------------------

def test_errors_are_json(make_api, monkeypatch):
    api = make_api(ZONESYNC_MAX_BODY="2048")
    assert_json_error(api.call("GET", "/nowhere"), 404)
    assert_json_error(api.call("GET", "/v1/nowhere", "admin"), 404)
    r = api.call("DELETE", "/v1/syncs", "admin")
    assert_json_error(r, 405)
    assert "POST" in r.headers["Allow"]
    assert_json_error(api.call("PATCH", "/v1/domains/acme.example", "admin", json={}), 405)
    big = {"domain": "x.example", "padding": "x" * 4096}
    assert_json_error(api.call("PUT", "/v1/domains/x.example", "admin", json=big), 413)
    assert_json_error(api.call("POST", "/v1/syncs", "admin", json={"domains": ["a" * 4096]}), 413)
    assert_json_error(api.call("PUT", "/v1/domains/x.example", "admin", data="domain: x.example",
                               content_type="application/yaml"), 415)
    assert_json_error(api.call("PUT", "/v1/domains/x.example", "admin"), 415)
    assert_json_error(api.call("POST", "/v1/syncs", "admin", data="domains=all",
                               content_type="application/x-www-form-urlencoded"), 415)
    assert_json_error(api.call("POST", "/v1/drift-checks", "admin", data="x",
                               content_type="text/plain"), 415)
    assert_json_error(api.call("POST", "/v1/syncs", "admin", data="{",
                               content_type="application/json"), 400)
    assert_json_error(api.call("PUT", "/v1/domains/x.example", "admin", data=b"\xff\xfe",
                               content_type="application/json"), 400)
    deep = make_api()
    nested = "[" * 200_000 + "]" * 200_000
    assert_json_error(deep.call("PUT", "/v1/domains/x.example", "admin", data=nested,
                                content_type="application/json"), 400)
    assert_json_error(deep.call("POST", "/v1/syncs", "admin", data=nested,
                                content_type="application/json"), 400)
    nested_ok = {"domain": "x.example", "sip": json.loads("[" * 30 + "1" + "]" * 30)}
    assert_json_error(deep.call("PUT", "/v1/domains/x.example", "admin", json=nested_ok), 422)

    # an unexpected failure: 500, JSON, no traceback, no secret even if the cause holds one
    def boom():
        raise RuntimeError(f"the store fell over near {WEBHOOK_SECRET}")
    monkeypatch.setattr(api.service.store, "domain_states", boom)
    body = assert_json_error(api.call("GET", "/v1/domains", "admin"), 500)
    assert "incident" in body["detail"]


def test_openapi_is_generated_from_the_code(api):
    spec = api.call("GET", "/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    ops = {(m.upper(), p) for p, item in spec["paths"].items() for m in item}
    assert ops >= {("GET", "/v1/domains"), ("PUT", "/v1/domains/{domain}"),
                   ("POST", "/v1/syncs"), ("GET", "/v1/syncs/{job_id}"),
                   ("POST", "/v1/drift-checks"), ("GET", "/v1/drift"), ("POST", "/v1/hooks/git"),
                   ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")}
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert spec["paths"]["/v1/syncs"]["post"]["security"] == [{"bearerAuth": []}]
    assert "Description" in spec["components"]["schemas"]


def test_healthz_and_readyz(api):
    assert api.call("GET", "/healthz").get_json() == {"status": "ok"}
    ready = api.call("GET", "/readyz").get_json()
    assert ready["ready"] is True and ready["checks"]["providers"]["local"]["ok"] is True
    assert ready["checks"]["zones"]["files"] == 3


# --- schemathesis: no 5xx for anything the schema allows (and for what it does not) ---------------
#
# Driven through operation.as_strategy() rather than schemathesis's pytest plugin, whose lazy
# fixture loader does not run on pytest 9 (it sets Node._nodeid, gone there).

import schemathesis  # noqa: E402
from hypothesis import HealthCheck, given, settings as hypothesis_settings  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

OPERATIONS = [("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"),
              ("GET", "/v1/domains"), ("GET", "/v1/domains/{domain}"),
              ("PUT", "/v1/domains/{domain}"), ("DELETE", "/v1/domains/{domain}"),
              ("POST", "/v1/syncs"), ("GET", "/v1/syncs"), ("GET", "/v1/syncs/{job_id}"),
              ("POST", "/v1/drift-checks"), ("GET", "/v1/drift"), ("POST", "/v1/hooks/git")]
WITH_INPUT = {op for op in OPERATIONS if "{" in op[1] or op in {
    ("POST", "/v1/syncs"), ("GET", "/v1/syncs"), ("POST", "/v1/drift-checks"),
    ("GET", "/v1/drift"), ("POST", "/v1/hooks/git")}}


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    home = make_home(tmp_path_factory.mktemp("fuzz"))
    app = create_app(settings(home))
    yield app
    app.extensions["zonesync"].stop()


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/openapi.json", fuzz_app)


def test_schemathesis_covers_every_operation(fuzz_schema):
    found = {(r.ok().method.upper(), r.ok().path) for r in fuzz_schema.get_all_operations()}
    assert found == set(OPERATIONS)


FUZZ = [(m, p, "positive") for m, p in OPERATIONS] + [
    (m, p, "negative") for m, p in OPERATIONS if (m, p) in WITH_INPUT]


@pytest.mark.parametrize("method,path,mode", FUZZ, ids=[" ".join(x) for x in FUZZ])
def test_schemathesis_no_server_errors(fuzz_schema, method, path, mode):
    operation = fuzz_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=GenerationMode(mode)))
    @hypothesis_settings(max_examples=20, deadline=None, database=None,
                         suppress_health_check=list(HealthCheck))
    def check(case):
        response = case.call(headers={"Authorization": f"Bearer {TOKENS['admin'][1]}"})
        case.validate_response(response, checks=[not_a_server_error])
        for secret in SECRETS:
            assert secret not in response.text

    check()


def test_domain_list_is_rendered_once_per_change(api, home, monkeypatch):
    """GET /v1/domains is kept rendered until zones/ or a domain's sync/drift state moves
    (in any process: the store's status counter), then rendered anew."""
    first = api.call("GET", "/v1/domains", "reader").get_json()["domains"]
    assert {d["domain"]: d["state"] for d in first}["mysite.ru"] is None
    store = api.service.store
    real = store.domain_states
    monkeypatch.setattr(store, "domain_states", lambda: pytest.fail("rendered again"))
    assert api.call("GET", "/v1/domains", "reader").get_json()["domains"] == first
    monkeypatch.setattr(store, "domain_states", real)

    other = Store(store.path)        # another worker or the runner process
    other.record_domain_sync("mysite.ru", "job-1", True, 1_700_000_000.0, verified=True)
    other.record_drift({"domain": "mysite.ru", "zone": "mysite.ru.", "provider": "local",
                        "state": "drift", "drifted": 1}, 1_700_000_001.0)
    listed = {d["domain"]: d for d in api.call("GET", "/v1/domains", "reader").get_json()["domains"]}
    assert listed["mysite.ru"]["state"]["last_job_id"] == "job-1"
    assert listed["mysite.ru"]["drift"] == "drift"

    (home / "zones" / "mysite.ru.yaml").unlink()
    listed = {d["domain"]: d for d in api.call("GET", "/v1/domains", "reader").get_json()["domains"]}
    assert listed["mysite.ru"]["described"] is False
