"""Git as the record of zones/: webhook signatures, fast-forward pulls, commits of API edits.

Every git call is a subprocess with explicit arguments (no shell), ``GIT_TERMINAL_PROMPT=0``
and no controlling terminal (so ssh cannot ask either): a missing credential is an error,
never a prompt. Each has a timeout, after which git and its helpers are killed. Failures
become messages: git's stderr trimmed, ``user:password@`` removed from any URL and known
secrets scrubbed.

History is never rewritten: a pull is ``git fetch`` of the branch's upstream and a
fast-forward to it; when the local branch and its upstream have diverged (a local commit
that was not pushed while the upstream moved on, or an upstream that was rewritten) nothing is
changed and ``diverged`` says so (``error`` too, so that a caller checking only ``error``
does not carry on); a human resolves it. Pushes are plain pushes of the current
branch to its upstream branch, never ``--force``.

The fast-forward touches only what the pulled commits change (git plumbing: the paths
``diff-tree`` names, checked clean, their index entries and files, then HEAD by
compare-and-swap), so that it costs the same with 100 or 100,000 files; ``git merge --ff-only``
reads and rewrites the whole index and stats every file (most of a pull at 100,000 files).
Whatever is unusual (a local change to a path the pull touches, an unborn HEAD, a sparse
checkout, symlinks, submodules, an operation in progress, a ``post-merge`` hook, signature
checks, many changed paths) is left to ``git merge --ff-only`` itself, which refuses or does
it. Index writes use git's split index (``core.splitIndex``, unless configured otherwise): a
write then costs what changed, not a 9 MB file at 100,000 files.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import signal
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .providers.config import scrub

GIT_TIMEOUT = 60
STDERR_LIMIT = 600
FAST_FORWARD_MAX = 1000     # changed paths a pull updates itself; more: git merge --ff-only
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"   # git's well-known empty tree
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]*@")
_SIGNATURE = re.compile(r"^sha256=([0-9a-fA-F]{64})$")
_SAFE_EMAIL = re.compile(r"[^A-Za-z0-9._+-]+")


class GitError(Exception):
    """A git command failed; the message is safe to show (no credentials). ``head`` is set
    when a commit was made before the failure (a rejected push)."""

    def __init__(self, message: str, head: str | None = None):
        super().__init__(clean(message))
        self.head = head


def clean(text: str) -> str:
    """A message without credentials: ``scheme://user:password@host`` → ``scheme://host``."""
    return scrub(_URL_CREDENTIALS.sub(r"\1", text))


# --- webhook signatures --------------------------------------------------------------------------

def verify_github(secret: str, body: bytes, signature: str | None) -> bool:
    """GitHub's ``X-Hub-Signature-256: sha256=<hex>``, the HMAC-SHA256 of the raw body.
    False for a missing or malformed header and for an empty secret."""
    if not secret or not signature or not isinstance(body, (bytes, bytearray)):
        return False
    match = _SIGNATURE.match(signature.strip())
    if not match:
        return False
    expected = hmac.new(secret.encode("utf-8"), bytes(body), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), match.group(1).lower().encode("ascii"))


def verify_gitlab(secret: str, token: str | None) -> bool:
    """GitLab's ``X-Gitlab-Token``: the shared secret itself. False if either is empty."""
    if not secret or not token:
        return False
    return hmac.compare_digest(secret.encode("utf-8"), token.encode("utf-8"))


# --- running git ---------------------------------------------------------------------------------

def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                        "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_PREFIX")}
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["LC_ALL"] = "C"
    return env


def _git(cwd: Path, *args: str, timeout: float = GIT_TIMEOUT, check: bool = True,
         env: dict[str, str] | None = None, input: str | None = None
         ) -> subprocess.CompletedProcess:
    """Run git in its own session: no controlling terminal, so neither git nor ssh can prompt;
    on time-out the whole process group (git and its ssh / remote helpers) is killed.
    ``input``: the command's standard input (else none)."""
    command = ["git", *args]
    name = next((a for a in args if not a.startswith("-") and "=" not in a), args[0])
    try:
        proc = subprocess.Popen(command, cwd=cwd, env=env or _env(),
                                stdin=subprocess.DEVNULL if input is None else subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                encoding="utf-8", errors="surrogateescape",
                                start_new_session=True)
    except FileNotFoundError:
        raise GitError("git is not installed (no `git` on PATH)") from None
    except OSError as exc:
        raise GitError(f"git {name} in {cwd} could not run: {exc}") from None
    try:
        stdout, stderr = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise GitError(f"git {name} in {cwd} timed out after {timeout:g} s") from None
    except BaseException:
        _kill_group(proc)
        raise
    result = subprocess.CompletedProcess(command, proc.returncode, stdout, stderr)
    if check and result.returncode != 0:
        raise GitError(f"git {name} in {cwd} failed: {_trim(result.stderr or result.stdout)}")
    return result


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)      # the group of the git we started, only
    except (ProcessLookupError, PermissionError):
        pass
    proc.communicate()


def _trim(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("hint:")] or lines
    out = " / ".join(lines) or "(no message)"
    return out if len(out) <= STDERR_LIMIT else out[:STDERR_LIMIT] + " …"


def _out(cwd: Path, *args: str, timeout: float = GIT_TIMEOUT) -> str:
    return _git(cwd, *args, timeout=timeout).stdout.strip()


def is_work_tree(path: Path) -> bool:
    """Is ``path`` (a directory) inside a git work tree?"""
    path = Path(path)
    if not path.is_dir():
        return False
    try:
        result = _git(path, "rev-parse", "--is-inside-work-tree", check=False, timeout=10)
    except GitError:
        return False
    return result.returncode == 0 and result.stdout.strip() == "true"


def _head(cwd: Path, timeout: float) -> str | None:
    result = _git(cwd, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False,
                  timeout=timeout)
    return result.stdout.strip() or None if result.returncode == 0 else None


@dataclass
class _Upstream:
    branch: str
    remote: str          # a remote name, or "." for a local upstream branch
    merge: str           # refs/heads/<name> on the remote


def _upstream(cwd: Path, timeout: float) -> _Upstream:
    result = _git(cwd, "symbolic-ref", "--quiet", "--short", "HEAD", check=False, timeout=timeout)
    if result.returncode != 0:
        raise GitError(f"{cwd}: HEAD is detached: check out the branch that tracks the zones "
                       "repository")
    branch = result.stdout.strip()
    remote = _git(cwd, "config", "--get", f"branch.{branch}.remote", check=False,
                  timeout=timeout).stdout.strip()
    merge = _git(cwd, "config", "--get", f"branch.{branch}.merge", check=False,
                 timeout=timeout).stdout.strip()
    if not remote or not merge:
        raise GitError(f"{cwd}: branch {branch} has no upstream; set one with "
                       f"`git branch --set-upstream-to=origin/{branch}`")
    return _Upstream(branch, remote, merge)


def _upstream_commit(cwd: Path, timeout: float) -> str | None:
    result = _git(cwd, "rev-parse", "--verify", "--quiet", "@{upstream}^{commit}", check=False,
                  timeout=timeout)
    return result.stdout.strip() or None if result.returncode == 0 else None


_SETTINGS = (r"^(core\.(sparsecheckout|ignorecase|filemode|splitindex|hookspath)"
             r"|merge\.verifysignatures|user\.email)$")
_IN_PROGRESS = ("MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD", "rebase-merge", "rebase-apply")


@dataclass
class _Repo:
    top: Path            # the work tree's top
    prefix: str          # of the directory asked about, relative to top ("zones/"), or ""
    git_dir: Path
    common_dir: Path
    config: dict[str, str | None]    # the _SETTINGS keys that are set (None: set, no value)

    def flag(self, key: str, default: bool = False) -> bool:
        if key not in self.config:
            return default
        value = self.config[key]
        return value is None or value.strip().lower() in ("true", "yes", "on", "1")

    @property
    def index(self) -> tuple[str, ...]:
        """Options for a git command that writes the index: the split index (a write costs
        what changed) unless ``core.splitIndex`` is configured either way."""
        return () if "core.splitindex" in self.config else ("-c", "core.splitIndex=true")


def _repo(cwd: Path, timeout: float) -> _Repo:
    top, prefix, git_dir, common = _git(
        cwd, "rev-parse", "--show-toplevel", "--show-prefix", "--absolute-git-dir",
        "--git-common-dir", timeout=timeout).stdout.split("\n")[:4]
    config: dict[str, str | None] = {}
    raw = _git(cwd, "config", "-z", "--get-regexp", _SETTINGS, check=False,
               timeout=timeout).stdout
    for item in raw.split("\0"):
        if item:
            key, newline, value = item.partition("\n")
            config[key.lower()] = value if newline else None
    return _Repo(Path(top), prefix, Path(git_dir), Path(cwd, common).resolve(), config)


# --- pull ----------------------------------------------------------------------------------------

@dataclass
class PullResult:
    old_head: str | None
    new_head: str | None
    changed: list[str] = field(default_factory=list)   # added or modified, relative to the repo
    deleted: list[str] = field(default_factory=list)
    diverged: bool = False
    error: str | None = None
    ahead: int = 0          # local commits the upstream does not have (kept, never dropped)
    via: str | None = None  # how it fast-forwarded: "plumbing" or "merge" (git merge --ff-only)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.diverged

    def to_json(self) -> dict:
        return {"old_head": self.old_head, "new_head": self.new_head, "changed": self.changed,
                "deleted": self.deleted, "diverged": self.diverged, "error": self.error,
                "ahead": self.ahead, "via": self.via}


def pull(zones_dir: Path, *, timeout: float = GIT_TIMEOUT) -> PullResult:
    """Fetch the branch's upstream and fast-forward to it; the files under ``zones_dir`` that
    changed. ``timeout`` bounds each git command. Never rewrites or drops a commit, never
    overwrites a local change (``git merge --ff-only``'s guarantees: see the module's doc for
    how the fast-forward is made; ``via`` says which way it was)."""
    zones_dir = Path(zones_dir)
    old_head = None
    try:
        if not is_work_tree(zones_dir):
            return PullResult(None, None, error=f"{zones_dir} is not in a git work tree")
        old_head = _head(zones_dir, timeout)
        upstream = _upstream(zones_dir, timeout)
        if upstream.remote != ".":
            _git(zones_dir, "fetch", "--quiet", "--no-write-fetch-head", upstream.remote,
                 timeout=timeout)
        target = _upstream_commit(zones_dir, timeout)
        if target is None:
            raise GitError(f"{zones_dir}: the upstream of {upstream.branch} "
                           f"({upstream.remote} {upstream.merge}) does not exist after fetch")
        result = PullResult(old_head, old_head)
        if old_head is not None:
            result.ahead, behind = _counts(zones_dir, old_head, target, timeout)
            if behind == 0:
                return result            # up to date; local commits not pushed yet are kept
            if result.ahead:
                # A local commit the upstream lacks while it has new ones: not pushed in time,
                # or the upstream was rewritten. Never merge, rebase or reset: a human decides.
                result.diverged = True
                result.error = (f"{upstream.branch} has diverged from {upstream.remote} "
                                f"{upstream.merge}: {result.ahead} local commit(s) not there, "
                                f"{behind} new commit(s) there; nothing was pulled (zonesync "
                                "never rewrites history: reconcile by hand)")
                return result
        repo = _repo(zones_dir, timeout)
        fast = _fast_forward(repo, old_head, target, timeout) if old_head is not None else None
        if fast is not None:
            result.new_head, result.via = target, "plumbing"
            result.changed, result.deleted = fast
            return result
        _git(zones_dir, *repo.index, "merge", "--ff-only", "--quiet", target, timeout=timeout)
        result.new_head, result.via = _head(zones_dir, timeout), "merge"
        result.changed, result.deleted = _changes(zones_dir, old_head, result.new_head, timeout)
        return result
    except GitError as exc:
        return PullResult(old_head, _safe_head(zones_dir, timeout) if old_head else None,
                          error=str(exc))


@dataclass
class _Change:
    path: str            # relative to the top of the work tree
    status: str          # A, M or D
    old_mode: str
    new_mode: str
    old_oid: str
    new_oid: str
    old_bytes: bytes | None = None     # the file as it was (checked: the old blob's content)


_REGULAR = ("100644", "100755")


def _fast_forward(repo: _Repo, old: str, new: str,
                  timeout: float) -> tuple[list[str], list[str]] | None:
    """HEAD from ``old`` to its descendant ``new``, updating only the index entries and files
    the commits between change. Done only when ``git merge --ff-only`` would do exactly that
    and nothing else: every changed path is clean (its index entry and file are ``old``'s, a
    path ``new`` adds is absent) and nothing unusual is involved; else None (and nothing is
    changed: the caller merges). Returns the files under ``repo.prefix`` added or modified,
    and deleted. GitError when git fails; what was changed before then is put back."""
    if not _plain(repo):
        return None
    raw = _git(repo.top, "diff-tree", "-r", "--no-renames", "-z", old, new,
               timeout=timeout).stdout
    parts = raw.split("\0")
    changes: list[_Change] = []
    for meta, path in zip(parts[0::2], parts[1::2]):
        fields = meta.lstrip(":").split(" ")
        if len(fields) != 5:
            return None
        old_mode, new_mode, old_oid, new_oid, status = fields
        if status not in ("A", "M", "D") or not _safe_relative(path):
            return None
        if (old_mode != "000000" and old_mode not in _REGULAR) or \
                (new_mode != "000000" and new_mode not in _REGULAR):
            return None                        # a symlink, a submodule: git does it
        changes.append(_Change(path, status, old_mode, new_mode, old_oid, new_oid))
    if not changes or len(changes) > FAST_FORWARD_MAX:
        return None
    paths = {c.path for c in changes}
    if any(parent in paths for c in changes for parent in _parents(c.path)):
        return None                            # a file becomes a directory, or back
    if not _clean(repo, old, changes, timeout):
        return None
    zero = "0" * len(new)
    forward = [f"0 {zero}\t{c.path}" for c in changes if c.status == "D"] + \
              [f"{c.new_mode} {c.new_oid}\t{c.path}" for c in changes if c.status != "D"]
    written = [c.path for c in changes if c.status != "D"]
    # the index first: it fails cleanly (a lock held by someone else) before anything changed
    _git(repo.top, *repo.index, "update-index", "--add", "-z", "--index-info",
         input="\0".join(forward) + "\0", timeout=timeout)
    try:
        for c in changes:
            if c.status == "D":
                _remove(repo.top, c.path)
        if written:
            # git writes the files (attributes, modes) and records their stat in the index
            _git(repo.top, *repo.index, "checkout-index", "--force", "--quiet", "-z", "--stdin",
                 input="\0".join(written) + "\0", timeout=timeout)
        # compare-and-swap: a commit made meanwhile is never overwritten
        _git(repo.top, "update-ref", "-m", f"merge {new}: Fast-forward (zonesync)", "HEAD",
             new, old, timeout=timeout)
    except (GitError, OSError) as exc:
        problem = clean(str(exc))
        try:
            _put_back(repo, changes, timeout)
        except (GitError, OSError) as again:
            raise GitError(f"the fast-forward to {new[:12]} failed ({problem}) and putting "
                           f"the files back failed too ({clean(str(again))}): see `git status` "
                           f"in {repo.top}") from None
        raise GitError(f"the fast-forward to {new[:12]} failed, nothing was pulled: "
                       f"{problem}") from None
    _git(repo.top, "update-ref", "ORIG_HEAD", old, check=False, timeout=timeout)  # as merge
    prefix = repo.prefix
    mine = [c for c in changes if c.path.startswith(prefix)]
    return [c.path for c in mine if c.status != "D"], [c.path for c in mine if c.status == "D"]


def _plain(repo: _Repo) -> bool:
    """Nothing that ``git merge`` would do differently from a plain fast-forward, or refuse."""
    if any((repo.git_dir / name).exists() for name in _IN_PROGRESS):
        return False                           # a merge, cherry-pick, revert or rebase going on
    if repo.flag("core.sparsecheckout") or repo.flag("core.ignorecase") or \
            repo.flag("merge.verifysignatures"):
        return False
    hooks = repo.config.get("core.hookspath")
    hook = (repo.top / os.path.expanduser(hooks) if hooks else repo.common_dir / "hooks") \
        / "post-merge"
    return not (hook.is_file() and os.access(hook, os.X_OK))


def _safe_relative(path: str) -> bool:
    parts = path.split("/")
    return bool(path) and not path.startswith("/") and all(
        p and p not in (".", "..") and p.lower() != ".git" for p in parts)


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _clean(repo: _Repo, old: str, changes: list[_Change], timeout: float) -> bool:
    """Every changed path as ``old`` has it, in the index and in the work tree: what it has
    is the old blob (byte for byte, same executable bit), what it lacks is absent; no
    unmerged entry anywhere (merge refuses those). Keeps the old files' bytes (to put back)."""
    # what the index has that ``old`` has not (staged, unmerged): one pass over the index,
    # whatever the number of paths (ls-files with N pathspecs costs N passes)
    raw = _git(repo.top, "diff-index", "--cached", "--raw", "-z", "--no-renames", old,
               timeout=timeout).stdout.split("\0")
    if any(meta.endswith("U") for meta in raw[0::2]):
        return False
    staged = {path for path in raw[1::2] if path}
    if staged and any(s == c.path or s.startswith(c.path + "/") or c.path.startswith(s + "/")
                      for s in staged for c in changes):
        return False                           # staged, unmerged, or a directory there
    filemode = repo.flag("core.filemode", True)
    for c in changes:
        where = repo.top / c.path
        for parent in _parents(c.path):       # real directories (never through a symlink)
            try:
                mode = os.lstat(repo.top / parent).st_mode
            except FileNotFoundError:
                if c.status != "A":
                    return False
                break
            except OSError:
                return False
            if not stat.S_ISDIR(mode):
                return False
        if c.status == "A":
            if _exists(where):
                return False                   # untracked there: git decides
            continue
        try:
            st = os.lstat(where)
            if not stat.S_ISREG(st.st_mode):
                return False
            if filemode and bool(st.st_mode & 0o100) != (c.old_mode == "100755"):
                return False
            with open(where, "rb") as handle:
                data = handle.read()
        except OSError:
            return False                       # gone, unreadable: git decides
        if _blob_id(data, len(c.old_oid)) != c.old_oid:
            return False                       # a local edit (or a conversion): git decides
        c.old_bytes = data
    return True


def _exists(path: Path) -> bool:
    try:
        os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError:
        return True                            # e.g. a parent that is a file: not absent
    return True


def _blob_id(data: bytes, length: int) -> str:
    digest = hashlib.sha256() if length == 64 else hashlib.sha1()
    digest.update(b"blob %d\0" % len(data))
    digest.update(data)
    return digest.hexdigest()


def _remove(top: Path, path: str) -> None:
    """Remove a file, then its parent directories that it leaves empty (as git does)."""
    try:
        os.unlink(top / path)
    except FileNotFoundError:
        pass
    for parent in reversed(_parents(path)):
        try:
            os.rmdir(top / parent)
        except OSError:
            break


def _put_back(repo: _Repo, changes: list[_Change], timeout: float) -> None:
    """Undo a fast-forward that failed half-way: the files as they were (the bytes read when
    they were checked), the index entries as ``old`` has them."""
    umask = os.umask(0)
    os.umask(umask)
    for c in changes:
        where = repo.top / c.path
        if c.status == "A":
            try:
                if stat.S_ISREG(os.lstat(where).st_mode):
                    _remove(repo.top, c.path)
            except FileNotFoundError:
                pass
            continue
        where.parent.mkdir(parents=True, exist_ok=True)
        temporary = where.with_name(f".{where.name}.zonesync-{os.getpid()}")
        mode = (0o777 if c.old_mode == "100755" else 0o666) & ~umask
        with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "wb") as out:
            out.write(c.old_bytes or b"")
        os.replace(temporary, where)
    zero = "0" * len(changes[0].old_oid)
    back = [f"0 {zero}\t{c.path}" for c in changes if c.status == "A"] + \
           [f"{c.old_mode} {c.old_oid}\t{c.path}" for c in changes if c.status != "A"]
    _git(repo.top, *repo.index, "update-index", "--add", "-z", "--index-info",
         input="\0".join(back) + "\0", timeout=timeout)


def _safe_head(cwd: Path, timeout: float) -> str | None:
    try:
        return _head(cwd, timeout)
    except GitError:
        return None


def _counts(cwd: Path, head: str, upstream: str, timeout: float) -> tuple[int, int]:
    text = _out(cwd, "rev-list", "--left-right", "--count", f"{head}...{upstream}",
                timeout=timeout)
    ahead, behind = text.split()
    return int(ahead), int(behind)


def _changes(zones_dir: Path, old: str | None, new: str | None,
             timeout: float) -> tuple[list[str], list[str]]:
    """Files under ``zones_dir`` added/modified and deleted between two commits."""
    if new is None or old == new:
        return [], []
    prefix = _out(zones_dir, "rev-parse", "--show-prefix", timeout=timeout)
    top = Path(_out(zones_dir, "rev-parse", "--show-toplevel", timeout=timeout))
    raw = _git(top, "diff", "--name-status", "--no-renames", "-z", old or EMPTY_TREE, new,
               "--", f":(top,literal){prefix}" if prefix else ":(top)", timeout=timeout).stdout
    parts = raw.split("\0")
    changed, deleted = [], []
    for status, path in zip(parts[0::2], parts[1::2]):
        (deleted if status.startswith("D") else changed).append(path)
    return changed, deleted


def domains_of(paths: list[str]) -> list[str]:
    """``zones/<domain>.yaml`` (or ``.yml``) → ``<domain>``, in order, once each."""
    out: list[str] = []
    for path in paths:
        p = Path(path)
        if p.suffix.lower() not in (".yaml", ".yml") or p.name.startswith("."):
            continue
        domain = p.stem.lower().rstrip(".")
        if domain and domain not in out:
            out.append(domain)
    return out


# --- commit --------------------------------------------------------------------------------------

def _author(author: str) -> str:
    author = " ".join(author.split())
    if re.fullmatch(r"[^<>]+<[^<>]+>", author):
        return author
    name = author.replace("<", "").replace(">", "").strip() or "zonesync"
    return f"{name} <{_SAFE_EMAIL.sub('-', name).strip('-') or 'zonesync'}@zonesync>"


def commit(zones_dir: Path, paths: list[Path], message: str, author: str, *,
           push: bool = False, timeout: float = GIT_TIMEOUT) -> str | None:
    """Record ``paths`` (written or deleted files; relative paths are taken from the current
    directory) in one commit by ``author`` ("name" → "name <name@zonesync>", or "Name <email>"),
    and push it to the branch's upstream when ``push``. Only those paths are committed, whatever
    else is staged. The new head, or None when ``zones_dir`` is not in a work tree or nothing
    changed. GitError when git fails (``.head`` is the commit if only the push failed)."""
    zones_dir = Path(zones_dir)
    if not is_work_tree(zones_dir):
        return None
    repo = _repo(zones_dir, timeout)
    top = repo.top.resolve()
    relative = []
    for path in paths:
        absolute = Path(os.path.abspath(path))
        try:
            rel = absolute.resolve().relative_to(top) if absolute.exists() else \
                absolute.parent.resolve().relative_to(top) / absolute.name
        except ValueError:
            raise GitError(f"{path} is outside the git work tree {top}") from None
        relative.append(rel.as_posix())
    if not relative:
        return None
    existing = [p for p in relative if (top / p).exists()]
    gone = [p for p in relative if not (top / p).exists()]
    env = _env()
    if not (repo.config.get("user.email") or "").strip():
        env.setdefault("GIT_COMMITTER_NAME", "zonesync")
        env.setdefault("GIT_COMMITTER_EMAIL", "zonesync@zonesync")
    made = _commit_plumbing(top, existing, gone, message, author, env, timeout, repo.index)
    if made is not None:
        head = made or None
    else:
        head = _commit_porcelain(top, relative, existing, gone, message, author, env, timeout,
                                 repo.index)
    if head is None:
        return None
    if push:
        _push(top, head, timeout)
    return head


def _commit_plumbing(top: Path, existing: list[str], gone: list[str], message: str,
                     author: str, env: dict[str, str], timeout: float,
                     index: tuple[str, ...] = ()) -> str | None:
    """The commit made straight from the index (update-index, write-tree, commit-tree,
    update-ref), when nothing but ``paths`` would be in it: nothing else staged, HEAD born.
    ``git commit --only`` instead builds a temporary index from HEAD and refreshes it, which
    at 100,000 files was most of a PUT. The new head, "" when nothing changed, None when this
    path does not apply (the caller then commits with ``git commit --only``). Commit hooks do
    not run on this path."""
    head = _head(top, timeout)
    if head is None or _git(top, "diff", "--cached", "--quiet", check=False,
                            timeout=timeout).returncode != 0:
        return None
    if existing:
        _git(top, *index, "update-index", "--add", "--", *existing, timeout=timeout)
    if gone:
        _git(top, *index, "update-index", "--force-remove", "--", *gone, timeout=timeout)
    tree = _out(top, *index, "write-tree", timeout=timeout)
    if tree == _out(top, "rev-parse", "HEAD^{tree}", timeout=timeout):
        return ""
    name, email = re.fullmatch(r"\s*([^<>]*?)\s*<([^<>]*)>\s*", _author(author)).groups()
    commit_env = env | {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email}
    new = _git(top, "commit-tree", tree, "-p", head, "-m", message or "zonesync: update zones",
               timeout=timeout, env=commit_env).stdout.strip()
    # compare-and-swap: a commit made meanwhile by someone else is never overwritten
    _git(top, "update-ref", "-m", "commit (zonesync)", "HEAD", new, head, timeout=timeout)
    return new


def _commit_porcelain(top: Path, relative: list[str], existing: list[str], gone: list[str],
                      message: str, author: str, env: dict[str, str],
                      timeout: float, index: tuple[str, ...] = ()) -> str | None:
    if existing:
        _git(top, *index, "add", "--", *[f":(literal){p}" for p in existing], timeout=timeout)
    if gone:
        _git(top, *index, "rm", "--cached", "--quiet", "--ignore-unmatch", "--",
             *[f":(literal){p}" for p in gone], timeout=timeout)
    staged = _git(top, "diff", "--cached", "--name-only", "-z", "--",
                  *[f":(literal){p}" for p in relative], timeout=timeout).stdout
    staged_paths = [p for p in staged.split("\0") if p]
    if not staged_paths:
        return None
    _git(top, *index, "commit", "--quiet", "-m", message or "zonesync: update zones",
         f"--author={_author(author)}", "--only", "--",
         *[f":(literal){p}" for p in staged_paths], timeout=timeout, env=env)
    return _head(top, timeout)


def _push(top: Path, head: str, timeout: float) -> None:
    try:
        upstream = _upstream(top, timeout)
        if upstream.remote == ".":
            raise GitError(f"branch {upstream.branch} tracks a local branch: nothing to "
                           "push to")
        _git(top, "push", "--quiet", upstream.remote, f"HEAD:{upstream.merge}", timeout=timeout)
    except GitError as exc:
        raise GitError(f"committed {head[:12] if head else '?'} but did not push it: {exc}",
                       head=head) from None
