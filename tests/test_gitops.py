"""Git as the record of zones/, with real git on disk: a bare "remote", clones of it."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.dnsservers import require_binary
from zonesync import gitops
from zonesync.gitops import GitError, commit, domains_of, is_work_tree, pull, verify_github, \
    verify_gitlab

ENV = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
ENV.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0")


def git(cwd: Path, *args: str) -> str:
    run = subprocess.run(["git", *args], cwd=cwd, env=ENV, capture_output=True, text=True,
                         timeout=30)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def configure(repo: Path, name: str) -> None:
    git(repo, "config", "user.name", name)
    git(repo, "config", "user.email", f"{name}@example.test")


def clone(remote: Path, where: Path, name: str) -> Path:
    git(where.parent, "clone", "--quiet", str(remote), where.name)
    configure(where, name)
    return where


def write_commit(repo: Path, files: dict[str, str | None], message: str, push: bool = True) -> str:
    for rel, text in files.items():
        path = repo / rel
        if text is None:
            git(repo, "rm", "--quiet", rel)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            git(repo, "add", rel)
    git(repo, "commit", "--quiet", "-m", message)
    if push:
        git(repo, "push", "--quiet")
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def has_git():
    """Skip outside CI, fail under CI=true (the CI image lists git in .ci/packages.txt)."""
    require_binary("git", "git")


@pytest.fixture
def repos(tmp_path: Path, monkeypatch, has_git):
    """(remote, zones repo, a colleague's clone): both clones track remote's main."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(remote))
    seed = tmp_path / "seed"
    git(tmp_path, "init", "--quiet", "--initial-branch=main", str(seed))
    configure(seed, "seed")
    git(seed, "remote", "add", "origin", str(remote))
    write_commit(seed, {"zones/acme.example.yaml": "domain: acme.example\n",
                        "zones/mysite.ru.yaml": "domain: mysite.ru\n",
                        "README.md": "zones\n"}, "initial", push=False)
    git(seed, "push", "--quiet", "-u", "origin", "main")
    zones_repo = clone(remote, tmp_path / "zones-repo", "server")
    colleague = clone(remote, tmp_path / "colleague", "colleague")
    return remote, zones_repo, colleague


def tree_snapshot(repo: Path) -> dict[str, bytes]:
    return {str(p.relative_to(repo)): p.read_bytes() for p in sorted(repo.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(repo).parts}


# --- webhook signatures ----------------------------------------------------------------------

def test_github_signature():
    secret, body = "hook-secret", b'{"ref": "refs/heads/main"}'
    good = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert verify_github(secret, body, good)
    assert verify_github(secret, body, good.upper().replace("SHA256=", "sha256="))  # hex case
    assert not verify_github(secret, body + b" ", good)                   # body changed
    assert not verify_github("other-secret", body, good)                  # forged
    forged = "sha256=" + hmac.new(b"guess", body, hashlib.sha256).hexdigest()
    assert not verify_github(secret, body, forged)
    assert not verify_github(secret, body, None)                          # missing
    assert not verify_github(secret, body, "")
    assert not verify_github(secret, body, good.replace("sha256=", "sha1="))   # wrong prefix
    assert not verify_github(secret, body, good[len("sha256="):])         # no prefix
    assert not verify_github(secret, body, good[:-2])                     # truncated
    assert not verify_github(secret, body, good[:-1] + "g")               # not hex
    assert not verify_github(secret, body, "sha256=é" + good[8:])         # not ASCII
    assert not verify_github("", body, "sha256=" + hmac.new(b"", body, hashlib.sha256).hexdigest())


def test_gitlab_token():
    assert verify_gitlab("tok-123", "tok-123")
    assert not verify_gitlab("tok-123", "tok-124")
    assert not verify_gitlab("tok-123", None)
    assert not verify_gitlab("tok-123", "")
    assert not verify_gitlab("", "")
    assert not verify_gitlab("tok-123", "tök-123")                        # non-ASCII: no crash


def test_domains_of():
    assert domains_of(["zones/acme.example.yaml", "zones/Mysite.RU.yml", "zones/README.md",
                       "zones/acme.example.yaml", "zones/.hidden.yaml"]) == ["acme.example",
                                                                            "mysite.ru"]


def test_messages_never_carry_url_credentials():
    text = "fatal: unable to access 'https://bot:s3cret@git.example.com/zones.git/': 403"
    assert gitops.clean(text) == "fatal: unable to access 'https://git.example.com/zones.git/': 403"
    assert "tok" not in gitops.clean("ssh://tok@host/x and http://:tok@h/y")


# --- pull ------------------------------------------------------------------------------------

def test_pull_fast_forward_lists_changed_and_deleted_zone_files(repos):
    _remote, zones_repo, colleague = repos
    old = git(zones_repo, "rev-parse", "HEAD")
    assert pull(zones_repo / "zones") == gitops.PullResult(old, old)     # nothing new
    new = write_commit(colleague, {"zones/acme.example.yaml": "domain: acme.example\nttl: 60\n",
                                   "zones/srvonly.example.yaml": "domain: srvonly.example\n",
                                   "zones/mysite.ru.yaml": None,
                                   "README.md": "zones, changed\n"}, "edit zones")
    result = pull(zones_repo / "zones")
    assert result.error is None and not result.diverged, result
    assert (result.old_head, result.new_head) == (old, new)
    assert sorted(result.changed) == ["zones/acme.example.yaml", "zones/srvonly.example.yaml"]
    assert result.deleted == ["zones/mysite.ru.yaml"]                   # README.md: not zones/
    assert domains_of(result.changed) == ["acme.example", "srvonly.example"]
    assert git(zones_repo, "rev-parse", "HEAD") == new
    assert (zones_repo / "zones" / "acme.example.yaml").read_text().endswith("ttl: 60\n")
    assert not (zones_repo / "zones" / "mysite.ru.yaml").exists()


def test_pull_diverged_changes_nothing(repos):
    _remote, zones_repo, colleague = repos
    local = write_commit(zones_repo, {"zones/acme.example.yaml": "domain: acme.example\n# local\n"},
                         "local edit, never pushed", push=False)
    # Local commits the upstream lacks, and nothing new there: kept, not diverged.
    result = pull(zones_repo / "zones")
    assert (result.diverged, result.error, result.new_head, result.ahead) == (False, None, local, 1)
    (zones_repo / "zones" / "scratch.yaml").write_text("domain: scratch.example\n")  # untracked
    write_commit(colleague, {"zones/mysite.ru.yaml": "domain: mysite.ru\nttl: 60\n"}, "remote edit")
    before_tree = tree_snapshot(zones_repo)
    before_log = git(zones_repo, "log", "--format=%H", "main")
    result = pull(zones_repo / "zones")
    assert result.diverged and result.error and "diverged" in result.error
    assert (result.old_head, result.new_head, result.changed, result.deleted) == (local, local, [], [])
    assert git(zones_repo, "rev-parse", "HEAD") == local                # the local commit stays
    assert git(zones_repo, "log", "--format=%H", "main") == before_log
    assert tree_snapshot(zones_repo) == before_tree                     # the work tree too
    assert git(zones_repo, "status", "--porcelain") == "?? zones/scratch.yaml"
    # The remote was not touched either (no push, let alone a forced one).
    assert local not in git(colleague, "log", "--format=%H", "--all")
    git(colleague, "fetch", "--quiet")
    assert local not in git(colleague, "log", "--format=%H", "origin/main")


def test_pull_errors_are_messages(repos, tmp_path):
    _remote, zones_repo, _colleague = repos
    assert pull(tmp_path / "nowhere").error                              # not a work tree
    plain = tmp_path / "plain"
    plain.mkdir()
    result = pull(plain)
    assert result.error and "not in a git work tree" in result.error
    git(zones_repo, "remote", "set-url", "origin", "https://bot:s3cret@127.0.0.1:9/zones.git")
    result = pull(zones_repo / "zones", timeout=20)
    assert result.error and "s3cret" not in result.error and "bot" not in result.error
    assert "127.0.0.1:9" in result.error
    with socket.socket() as silent:          # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        git(zones_repo, "remote", "set-url", "origin", f"http://bot:s3cret@127.0.0.1:{port}/z.git")
        started = time.monotonic()
        result = pull(zones_repo / "zones", timeout=2)
        assert time.monotonic() - started < 15
    assert result.error and "timed out" in result.error and "s3cret" not in result.error
    assert git(zones_repo, "rev-parse", "HEAD") == result.old_head == result.new_head
    git(zones_repo, "branch", "--unset-upstream")
    result = pull(zones_repo / "zones")
    assert result.error and "no upstream" in result.error



# --- pull: the fast-forward made with plumbing ------------------------------------------------

def index_and_tree(repo: Path) -> tuple[str, dict[str, bytes], str]:
    """(the index as `ls-files -s` lists it, the work tree's files, `git status`)."""
    return (git(repo, "ls-files", "-s"), tree_snapshot(repo),
            git(repo, "status", "--porcelain", "--untracked-files=all"))


def test_pull_plumbing_does_what_merge_does(repos, tmp_path):
    """Additions, modifications, deletions, a new subdirectory, a file made executable, a file
    outside zones/: the plumbing fast-forward leaves the same HEAD, index, files and clean
    status as `git merge --ff-only` in a second clone, and touches nothing else."""
    remote, zones_repo, colleague = repos
    twin = clone(remote, tmp_path / "twin", "twin")
    write_commit(colleague, {"zones/sub/inner.example.yaml": "domain: inner.example\n",
                             "zones/tool.sh": "#!/bin/sh\n"}, "setup")
    for repo in (zones_repo, twin):
        git(repo, "pull", "--quiet", "--ff-only")
    old = git(zones_repo, "rev-parse", "HEAD")
    (colleague / "zones" / "tool.sh").chmod(0o755)
    git(colleague, "add", "zones/tool.sh")
    new = write_commit(colleague, {
        "zones/acme.example.yaml": "domain: acme.example\nttl: 60\n",      # modified
        "zones/mysite.ru.yaml": None,                                      # deleted
        "zones/sub/inner.example.yaml": None,                              # its dir goes too
        "zones/new.example.yaml": "domain: new.example\n",                 # added
        "zones/deep/er/x.example.yaml": "domain: x.example\n",             # new directories
        "README.md": "outside zones/\n"}, "many kinds of change")
    (zones_repo / "zones" / "scratch.txt").write_text("untracked, kept\n")
    (twin / "zones" / "scratch.txt").write_text("untracked, kept\n")

    result = pull(zones_repo / "zones")
    assert result.ok and result.via == "plumbing", result
    assert (result.old_head, result.new_head) == (old, new)
    assert result.changed == ["zones/acme.example.yaml", "zones/deep/er/x.example.yaml",
                              "zones/new.example.yaml", "zones/tool.sh"]
    assert result.deleted == ["zones/mysite.ru.yaml", "zones/sub/inner.example.yaml"]

    git(twin, "fetch", "--quiet")
    git(twin, "merge", "--ff-only", "--quiet", "origin/main")
    assert git(zones_repo, "rev-parse", "HEAD", "main") == f"{new}\n{new}"
    assert index_and_tree(zones_repo) == index_and_tree(twin)
    assert git(zones_repo, "status", "--porcelain") == "?? zones/scratch.txt"
    assert git(zones_repo, "diff", "HEAD") == ""
    assert git(zones_repo, "diff-files") == ""         # the index has the files' stat data
    assert os.access(zones_repo / "zones" / "tool.sh", os.X_OK)
    assert not (zones_repo / "zones" / "sub").exists()
    assert git(zones_repo, "rev-parse", "ORIG_HEAD") == old
    assert "Fast-forward" in git(zones_repo, "reflog", "-1", "--format=%gs", "main")


def test_pull_plumbing_keeps_unrelated_local_changes(repos):
    _remote, zones_repo, colleague = repos
    zones = zones_repo / "zones"
    (zones / "mysite.ru.yaml").write_text("domain: mysite.ru\n# edited here, not committed\n")
    (zones_repo / "README.md").write_text("staged here\n")
    git(zones_repo, "add", "README.md")
    (zones / "local.example.yaml").write_text("domain: local.example\n")     # untracked
    new = write_commit(colleague, {"zones/acme.example.yaml": "domain: acme.example\nttl: 5\n"},
                       "remote edit")
    result = pull(zones)
    assert result.ok and result.via == "plumbing" and result.new_head == new, result
    assert (zones / "acme.example.yaml").read_text() == "domain: acme.example\nttl: 5\n"
    assert (zones / "mysite.ru.yaml").read_text().endswith("# edited here, not committed\n")
    assert (zones / "local.example.yaml").read_text() == "domain: local.example\n"
    assert git(zones_repo, "status", "--porcelain").splitlines() == [
        "M  README.md", " M zones/mysite.ru.yaml", "?? zones/local.example.yaml"]


@pytest.mark.parametrize("local", ["edited", "staged", "untracked-at-new-path", "made-executable"])
def test_pull_refuses_to_overwrite_a_local_change_the_push_touches(repos, local):
    """A local change to a path the incoming commits change: nothing is pulled, nothing
    changes (git merge --ff-only refuses it the same way)."""
    _remote, zones_repo, colleague = repos
    zones = zones_repo / "zones"
    acme = zones / "acme.example.yaml"
    if local == "edited":
        acme.write_text("domain: acme.example\n# mine\n")
    elif local == "staged":
        acme.write_text("domain: acme.example\n# mine, staged\n")
        git(zones_repo, "add", "zones/acme.example.yaml")
    elif local == "made-executable":
        acme.chmod(0o755)
    else:
        (zones / "new.example.yaml").write_text("domain: new.example\n# mine, untracked\n")
    old = git(zones_repo, "rev-parse", "HEAD")
    write_commit(colleague, {"zones/acme.example.yaml": "domain: acme.example\nttl: 60\n",
                             "zones/new.example.yaml": "domain: new.example\n"}, "remote")
    before = index_and_tree(zones_repo)
    result = pull(zones)
    assert result.error and not result.ok and result.new_head == old, result
    assert "overwritten" in result.error
    assert git(zones_repo, "rev-parse", "HEAD") == old
    assert index_and_tree(zones_repo) == before
    assert os.access(acme, os.X_OK) == (local == "made-executable")


def test_pull_over_a_locally_deleted_file_is_left_to_git_merge(repos):
    """A file deleted (not committed) that the push modifies: not the plumbing's to decide;
    git merge --ff-only pulls it, as it would by hand (nothing local is lost: it was gone)."""
    _remote, zones_repo, colleague = repos
    (zones_repo / "zones" / "acme.example.yaml").unlink()
    new = write_commit(colleague, {"zones/acme.example.yaml": "domain: acme.example\nttl: 9\n"},
                       "remote")
    result = pull(zones_repo / "zones")
    assert result.ok and result.via == "merge" and result.new_head == new, result
    assert (zones_repo / "zones" / "acme.example.yaml").read_text().endswith("ttl: 9\n")


def test_pull_with_an_unresolved_conflict_elsewhere_is_refused(repos):
    """An unmerged path (a stash that did not apply cleanly), even one the push does not
    touch: git merge refuses to pull, and so does the pull."""
    _remote, zones_repo, colleague = repos
    readme = zones_repo / "README.md"
    readme.write_text("stashed\n")
    git(zones_repo, "stash", "--quiet")
    write_commit(zones_repo, {"README.md": "committed\n"}, "local", push=False)
    subprocess.run(["git", "stash", "pop", "--quiet"], cwd=zones_repo, env=ENV,
                   capture_output=True, timeout=30)
    assert git(zones_repo, "status", "--porcelain") == "UU README.md"
    git(zones_repo, "push", "--quiet")
    git(colleague, "pull", "--quiet", "--ff-only")
    old = git(zones_repo, "rev-parse", "HEAD")
    write_commit(colleague, {"zones/acme.example.yaml": "domain: acme.example\nttl: 4\n"}, "r")
    result = pull(zones_repo / "zones")
    assert result.error and "unmerged" in result.error and result.via is None
    assert git(zones_repo, "rev-parse", "HEAD") == old
    assert (zones_repo / "zones" / "acme.example.yaml").read_text() == "domain: acme.example\n"


def test_pull_plumbing_index_locked_changes_nothing(repos):
    """Someone holds the index (index.lock): the pull fails before anything changed, and
    the next one does it."""
    _remote, zones_repo, colleague = repos
    old = git(zones_repo, "rev-parse", "HEAD")
    new = write_commit(colleague, {"zones/acme.example.yaml": "domain: acme.example\nttl: 1\n",
                                   "zones/mysite.ru.yaml": None}, "remote")
    lock = zones_repo / ".git" / "index.lock"
    lock.write_text("")
    before = index_and_tree(zones_repo)
    result = pull(zones_repo / "zones")
    assert result.error and "index.lock" in result.error and result.new_head == old
    assert git(zones_repo, "rev-parse", "HEAD") == old
    lock.unlink()
    assert index_and_tree(zones_repo) == before
    result = pull(zones_repo / "zones")
    assert result.ok and result.new_head == new and result.via == "plumbing"
    assert git(zones_repo, "status", "--porcelain") == ""


def test_pull_plumbing_failing_half_way_puts_everything_back(repos, monkeypatch):
    """HEAD cannot be moved (a commit made meanwhile, here: a failure injected into the
    update-ref): the files and index entries already updated are put back as they were."""
    _remote, zones_repo, colleague = repos
    old = git(zones_repo, "rev-parse", "HEAD")
    write_commit(colleague, {"zones/acme.example.yaml": "domain: acme.example\nttl: 1\n",
                             "zones/mysite.ru.yaml": None,
                             "zones/sub/new.example.yaml": "domain: new.example\n"}, "remote")
    git(zones_repo, "fetch", "--quiet")
    before = index_and_tree(zones_repo)
    real = gitops._git

    def failing(cwd, *args, **kwargs):
        if "update-ref" in args and "HEAD" in args:
            assert (zones_repo / "zones" / "sub" / "new.example.yaml").exists()   # half-way
            raise GitError("update-ref: cannot lock ref 'HEAD' (injected)")
        return real(cwd, *args, **kwargs)

    monkeypatch.setattr(gitops, "_git", failing)
    result = pull(zones_repo / "zones")
    monkeypatch.undo()
    assert result.error and "nothing was pulled" in result.error and "injected" in result.error
    assert git(zones_repo, "rev-parse", "HEAD") == old == result.new_head
    assert index_and_tree(zones_repo) == before
    assert not (zones_repo / "zones" / "sub").exists()
    assert git(zones_repo, "diff", "HEAD") == ""


def test_pull_unusual_cases_go_through_git_merge(repos):
    """A post-merge hook (merge runs it), a symlink: git merge --ff-only does the pull."""
    _remote, zones_repo, colleague = repos
    hook = zones_repo / ".git" / "hooks" / "post-merge"
    hook.write_text("#!/bin/sh\necho ran > \"$(git rev-parse --git-dir)/post-merge-ran\"\n")
    hook.chmod(0o755)
    new = write_commit(colleague, {"zones/acme.example.yaml": "domain: acme.example\nttl: 2\n"},
                       "remote")
    result = pull(zones_repo / "zones")
    assert result.ok and result.via == "merge" and result.new_head == new
    assert result.changed == ["zones/acme.example.yaml"]
    assert (zones_repo / ".git" / "post-merge-ran").exists()
    hook.unlink()
    (colleague / "zones" / "alias.yaml").symlink_to("acme.example.yaml")
    git(colleague, "add", "zones/alias.yaml")
    new = write_commit(colleague, {}, "a symlink")
    result = pull(zones_repo / "zones")
    assert result.ok and result.via == "merge" and result.changed == ["zones/alias.yaml"]
    assert os.readlink(zones_repo / "zones" / "alias.yaml") == "acme.example.yaml"
    assert git(zones_repo, "status", "--porcelain") == ""


def test_pull_and_commit_use_a_split_index_unless_configured(repos):
    """Index writes cost what changed (git's split index); a repository configured with
    core.splitIndex=false keeps one index file."""
    _remote, zones_repo, colleague = repos
    write_commit(colleague, {"zones/acme.example.yaml": "domain: acme.example\nttl: 3\n"}, "r")
    assert pull(zones_repo / "zones").via == "plumbing"
    assert list((zones_repo / ".git").glob("sharedindex.*"))
    git(zones_repo, "config", "core.splitIndex", "false")
    git(zones_repo, "update-index", "--no-split-index")
    for shared in (zones_repo / ".git").glob("sharedindex.*"):
        shared.unlink()
    zones = zones_repo / "zones"
    (zones / "new.example.yaml").write_text("domain: new.example\n")
    assert commit(zones, [zones / "new.example.yaml"], "api: new", "alice")
    assert not list((zones_repo / ".git").glob("sharedindex.*"))
    assert git(zones_repo, "status", "--porcelain") == ""


def test_webhook_pull_reloads_only_what_changed(tmp_path, monkeypatch, has_git):
    """The webhook's pull changes zones/'s directory entries; the journal line written first
    tells the service's warm estate which: it looks at those files, never at every file."""
    from tests.helpers import ROOT
    from zonesync.api import create_app

    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    remote, dev = tmp_path / "remote.git", tmp_path / "dev"
    git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(remote))
    git(tmp_path, "init", "--quiet", "--initial-branch=main", str(dev))
    configure(dev, "dev")
    shutil.copytree(ROOT / "zones", dev / "zones")
    git(dev, "add", "zones")
    git(dev, "commit", "--quiet", "-m", "zones")
    git(dev, "remote", "add", "origin", str(remote))
    git(dev, "push", "--quiet", "-u", "origin", "main")
    svc = clone(remote, tmp_path / "svc", "svc")
    secret = "whsec-test-0123456789"
    app = create_app({"zones": str(svc / "zones"), "providers": str(ROOT / "providers"),
                      "state_dir": str(tmp_path / "state"), "webhook_secret": secret,
                      "start_runner": "false", "zones_rescan": "off",
                      "tokens": "r:read:rd-0123456789abcdef"})
    service = app.extensions["zonesync"]
    assert len(service.warm.current().files) == 3
    scans = service.warm.stats["full_scans"]
    acme = (dev / "zones" / "acme.example.yaml").read_text()
    write_commit(dev, {"zones/acme.example.yaml": acme.replace("weight: 60", "weight: 70"),
                       "zones/srvonly.example.yaml": None,
                       "zones/new.example.yaml": acme.replace("acme.example", "new.example")},
                 "three changes")
    body = json.dumps({"ref": "refs/heads/main"}).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    r = app.test_client().post("/v1/hooks/git", data=body, headers={
        "X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Event": "push",
        "Content-Type": "application/json"})
    assert r.status_code == 202, r.get_json()
    answer = r.get_json()
    assert answer["changed"] == ["zones/acme.example.yaml", "zones/new.example.yaml"]
    assert answer["deleted"] == ["zones/srvonly.example.yaml"] and answer["job"]
    view = service.warm.current()
    assert service.warm.stats["full_scans"] == scans        # no stat of every file
    assert sorted(view.names) == ["acme.example.yaml", "mysite.ru.yaml", "new.example.yaml"]
    assert "weight: 70" in (svc / "zones" / "acme.example.yaml").read_text()
    assert view.find("new.example") is not None and view.find("srvonly.example") is None

# --- commit ----------------------------------------------------------------------------------

def test_commit_records_the_files_and_pushes_when_asked(repos, tmp_path):
    remote, zones_repo, colleague = repos
    zones = zones_repo / "zones"
    (zones / "new.example.yaml").write_text("domain: new.example\n")
    (zones / "mysite.ru.yaml").unlink()
    (zones_repo / "README.md").write_text("unrelated edit, staged by someone\n")
    git(zones_repo, "add", "README.md")
    head = commit(zones, [zones / "new.example.yaml", zones / "mysite.ru.yaml"],
                  "api: new.example, mysite.ru removed", "alice")
    assert head == git(zones_repo, "rev-parse", "HEAD")
    assert git(zones_repo, "show", "--format=%an <%ae>|%s", "--name-status", head).splitlines() == [
        "alice <alice@zonesync>|api: new.example, mysite.ru removed", "",
        "D\tzones/mysite.ru.yaml", "A\tzones/new.example.yaml"]
    assert git(zones_repo, "status", "--porcelain") == "M  README.md"   # not swept in
    assert git(remote, "rev-parse", "main") != head                       # push=False: local
    assert commit(zones, [zones / "new.example.yaml"], "again", "alice") is None  # no change

    (zones / "new.example.yaml").write_text("domain: new.example\nttl: 60\n")
    pushed = commit(zones, [Path(os.path.relpath(zones / "new.example.yaml"))], "api: ttl",
                    "Bob Builder <bob@example.test>", push=True)
    assert git(remote, "rev-parse", "main") == pushed
    assert git(zones_repo, "show", "-s", "--format=%an <%ae>", pushed) == "Bob Builder <bob@example.test>"
    result = pull(colleague / "zones")
    assert result.new_head == pushed and "zones/new.example.yaml" in result.changed


def test_commit_from_a_clean_index_same_result_without_git_commit(repos):
    """Nothing else staged: the commit is made from the index (plumbing; git commit --only
    rebuilds an index from HEAD, seconds at 100,000 files). Same commit, same clean status."""
    remote, zones_repo, colleague = repos
    zones = zones_repo / "zones"
    before = git(zones_repo, "rev-parse", "HEAD")
    (zones / "new.example.yaml").write_text("domain: new.example\n")
    (zones / "mysite.ru.yaml").unlink()
    (zones_repo / "notes.txt").write_text("untracked, never swept in\n")
    head = commit(zones, [zones / "new.example.yaml", zones / "mysite.ru.yaml"],
                  "api: new.example, mysite.ru removed", "Carol <carol@example.test>", push=True)
    assert head == git(zones_repo, "rev-parse", "HEAD") == git(remote, "rev-parse", "main")
    assert git(zones_repo, "show", "--format=%an <%ae>|%P|%s", "--name-status",
               head).splitlines() == [
        f"Carol <carol@example.test>|{before}|api: new.example, mysite.ru removed", "",
        "D\tzones/mysite.ru.yaml", "A\tzones/new.example.yaml"]
    assert git(zones_repo, "status", "--porcelain") == "?? notes.txt"
    assert commit(zones, [zones / "new.example.yaml"], "again", "carol") is None   # no change


def test_commit_push_rejected_is_an_error_and_never_forced(repos):
    remote, zones_repo, colleague = repos
    theirs = write_commit(colleague, {"zones/acme.example.yaml": "domain: acme.example\n# x\n"},
                          "colleague")
    zones = zones_repo / "zones"
    (zones / "new.example.yaml").write_text("domain: new.example\n")
    with pytest.raises(GitError) as raised:
        commit(zones, [zones / "new.example.yaml"], "api: new", "alice", push=True)
    assert raised.value.head == git(zones_repo, "rev-parse", "HEAD")    # the commit is kept
    assert "did not push" in str(raised.value)
    assert git(remote, "rev-parse", "main") == theirs                   # remote untouched


def test_not_a_work_tree(tmp_path, has_git):
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "a.example.yaml").write_text("domain: a.example\n")
    assert not is_work_tree(zones)
    assert not is_work_tree(tmp_path / "missing")
    assert commit(zones, [zones / "a.example.yaml"], "m", "alice", push=True) is None
    assert sorted(p.name for p in zones.iterdir()) == ["a.example.yaml"]
