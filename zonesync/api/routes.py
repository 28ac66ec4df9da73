"""The routes: flask-smorest blueprints, so that /openapi.json is generated from this code.

Views return ``Response`` objects (flask-smorest passes them through unchanged); the schemas
on ``@blp.response`` document the shapes. Access: ``@needs(scope)``, ``@public`` or
``@signed`` on every method (see auth.py).
"""

from __future__ import annotations

import os
import time

from flask import current_app, g, jsonify, request
from flask.views import MethodView
from flask_smorest import Blueprint

from ..providers.config import ProviderError
from . import schemas as s
from .auth import needs, public, signed
from .errors import ApiError, error_response
from .service import Service, canonical_domain, hook_pull

BEARER = [{"bearerAuth": []}]
_ERRORS = {
    400: "the domain name (or the JSON) is not valid",
    401: "no valid bearer token", 403: "the token lacks the scope",
    404: "no such thing", 409: "a conflict with the state of zones/",
    413: "the body is too large", 415: "the body is not JSON",
    422: "the request is not valid (details in `detail`)", 429: "the job queue is full",
}


def service() -> Service:
    return current_app.extensions["zonesync"]


def who() -> str:
    return g.get("token_name") or "anonymous"


def errors(blp: Blueprint, *codes: int):
    """Document the error answers of a method (all share ErrorSchema)."""
    def wrap(view):
        for code in codes:
            view = blp.alt_response(code, schema=s.ErrorSchema, description=_ERRORS.get(code))(view)
        return view
    return wrap


def body_required(view):
    view._zonesync_body = True
    return view


def reply(data, status: int = 200, headers: dict | None = None):
    response = jsonify(data)
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


# --- health --------------------------------------------------------------------------------------

health = Blueprint("health", __name__, description="Liveness, readiness and metrics (no token)")


@health.route("/healthz")
class Healthz(MethodView):
    @public
    @health.response(200, s.HealthSchema)
    @health.doc(security=[])
    def get(self):
        """The process is up."""
        return reply({"status": "ok"})


@health.route("/readyz")
class Readyz(MethodView):
    @public
    @health.response(200, s.ReadySchema)
    @health.alt_response(503, schema=s.ErrorSchema, description="not ready: `detail` says why")
    @health.doc(security=[])
    def get(self):
        """zones/ loads, every provider can be configured (no I/O), the store opens."""
        svc = service()
        checks: dict = {}
        ready = True
        try:
            if not svc.zones.is_dir():
                raise OSError(f"{svc.zones.name}/ is not a directory")
            described = svc.described()
            findings = [f for zf in described.files for f in zf.loaded.findings]
            checks["zones"] = {"ok": True, "files": len(described.files),
                               "errors": sum(f.is_error for f in findings),
                               "warnings": sum(not f.is_error for f in findings)}
        except Exception as exc:  # noqa: BLE001
            ready = False
            checks["zones"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        providers: dict = {}
        try:
            workspace = svc.workspace()
            for problem in workspace.problems:
                ready = False
                providers.setdefault("problems", []).append(problem)
            for name, config in sorted(workspace.providers.configs.items()):
                try:
                    config.instance()
                    providers[name] = {"ok": True}
                except ProviderError as exc:
                    ready = False
                    providers[name] = {"ok": False, "error": str(exc)}
        except Exception as exc:  # noqa: BLE001
            ready = False
            providers["error"] = f"{type(exc).__name__}: {exc}"
        checks["providers"] = providers
        try:
            checks["store"] = {"ok": True, "jobs": svc.store.counts_by_state()}
        except Exception as exc:  # noqa: BLE001
            ready = False
            checks["store"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        checks["runner"] = {"leader_here": svc.runner.is_leader, "pid": os.getpid()}
        if not ready:
            return error_response(503, "not ready", checks)
        return reply({"ready": True, "checks": checks})


@health.route("/metrics")
class MetricsView(MethodView):
    @public
    @health.doc(security=[], responses={"200": {
        "description": "Prometheus text format",
        "content": {"text/plain": {"schema": {"type": "string"}}}}})
    def get(self):
        """Prometheus metrics (the store's numbers: the same from every worker)."""
        data, content_type = current_app.extensions["zonesync.metrics"].render()
        return current_app.response_class(data, status=200, content_type=content_type)


# --- domains -------------------------------------------------------------------------------------

domains = Blueprint("domains", __name__, url_prefix="/v1/domains",
                    description="SIP domain descriptions (zones/<domain>.yaml)")


@domains.route("")
class DomainList(MethodView):
    @needs("read")
    @domains.response(200, s.DomainListSchema)
    @errors(domains, 401, 403)
    @domains.doc(security=BEARER)
    def get(self):
        """Every domain: its file, lint counts, last sync and verification, latest drift."""
        svc = service()
        described = svc.described()
        key = (id(described.view), getattr(described.view, "generation", None),
               svc.store.status_version())
        cached = svc.domain_list
        if cached is None or cached[0] != key:
            # rendered once per (zones/ generation, store status): a list of thousands of
            # domains polled by dashboards costs one comparison, not a render, per request
            cached = svc.domain_list = (key, _render_domain_list(svc, described))
        return current_app.response_class(cached[1], status=200, mimetype="application/json")


def _render_domain_list(svc, described) -> bytes:
    states = svc.store.domain_states()
    drift = _drift_by_domain([{"domain": d, "state": st} for d, st in svc.store.drift_states()])
    out, seen = [], set()
    for domain, file, zone, valid, errors_, warnings in described.rows():
        out.append({"domain": domain, "file": file, "zone": zone, "described": True,
                    "valid": valid, "errors": errors_, "warnings": warnings,
                    "state": states.get(domain), "drift": drift.get(domain)})
        seen.add(domain)
    for domain in sorted(set(states) - seen):
        out.append({"domain": domain, "file": None, "zone": None, "described": False,
                    "valid": False, "errors": 0, "warnings": 0, "state": states[domain],
                    "drift": drift.get(domain)})
    return (current_app.json.dumps({"domains": out}) + "\n").encode()


_RANK = {"clean": 0, "pending": 1, "drift": 2, "error": 3}


def _drift_by_domain(reports: list[dict]) -> dict[str, str]:
    out: dict[str, str] = {}
    for r in reports:
        state = r.get("state") if r.get("state") in _RANK else "error"
        old = out.get(r.get("domain"))
        if old is None or _RANK[state] > _RANK[old]:
            out[r.get("domain")] = state
    return out


@domains.route("/<string:domain>")
class DomainItem(MethodView):
    @needs("read")
    @domains.response(200, s.DomainDetailSchema)
    @errors(domains, 400, 401, 403, 404)
    @domains.doc(security=BEARER)
    def get(self, domain: str):
        """One domain: its description, compiled records, lint findings and last results."""
        svc = service()
        name = canonical_domain(domain)
        found = svc.described().find(name)
        if found is None:
            raise ApiError(404, "not found", f"no description for {name} in {svc.zones.name}/")
        return reply(svc.domain_json(name, found))

    @needs("write")
    @body_required
    @domains.doc(security=BEARER, requestBody={
        "required": True, "description": "the description, as the YAML file would hold it; "
        "`domain` may be left out (the path gives it)",
        "content": {"application/json": {"schema": s.DescriptionSchema}}})
    @domains.response(200, s.DomainDetailSchema, description="replaced")
    @domains.alt_response(201, schema=s.DomainDetailSchema, description="created")
    @errors(domains, 400, 401, 403, 409, 413, 415, 422)
    def put(self, domain: str):
        """Create or replace zones/<domain>.yaml, validated exactly as `zonesync validate`
        checks it (with the other files: cross-file rules too); committed if zones/ is git."""
        svc = service()
        name = canonical_domain(domain)
        out, created = svc.put(name, g.json_body, who())
        return reply(out, 201 if created else 200,
                     {"Location": f"/v1/domains/{name}"} if created else None)

    @needs("write")
    @domains.response(200, s.DeletedSchema)
    @errors(domains, 400, 401, 403, 404)
    @domains.doc(security=BEARER)
    def delete(self, domain: str):
        """Remove zones/<domain>.yaml (committed if zones/ is git). The next sync removes the
        records zonesync owned for it."""
        svc = service()
        return reply(svc.delete(canonical_domain(domain), who()))


# --- jobs: syncs and drift checks ------------------------------------------------------------

jobs = Blueprint("jobs", __name__, url_prefix="/v1",
                 description="Sync and drift-check jobs (queued, run by one process)")


def _submitted(job, coalesced: bool):
    return reply({"id": job.id, "state": job.state, "coalesced": coalesced, "kind": job.kind},
                 202, {"Location": f"/v1/syncs/{job.id}"})


@jobs.route("/syncs")
class Syncs(MethodView):
    @needs("sync")
    @body_required
    @jobs.arguments(s.SyncRequestSchema)
    @jobs.response(202, s.SubmittedSchema, headers={
        "Location": {"description": "/v1/syncs/<id>", "schema": {"type": "string"}}})
    @jobs.alt_response(429, schema=s.ErrorSchema, description="the queue is full", headers={
        "Retry-After": {"description": "seconds", "schema": {"type": "integer"}}})
    @errors(jobs, 400, 401, 403, 413, 415, 422)
    @jobs.doc(security=BEARER)
    def post(self, args):
        """Queue a sync (plan, apply, verify) of some domains' zones or of all; a queued job
        that already covers the request is returned instead (`coalesced`)."""
        svc = service()
        domains = svc.check_domains(args["domains"])
        job, coalesced = svc.submit("sync", domains, args["dry_run"], who())
        return _submitted(job, coalesced)

    @needs("read")
    @jobs.arguments(s.JobQuerySchema, location="query")
    @jobs.response(200, s.JobListSchema)
    @errors(jobs, 401, 403, 422)
    @jobs.doc(security=BEARER)
    def get(self, args):
        """Jobs, newest first (sync and drift), optionally naming a domain or in a state."""
        svc = service()
        domain = _query_domain(args)
        found = svc.store.list(domain=domain, state=args.get("state"), limit=args["limit"])
        return reply({"jobs": [j.to_json() for j in found]})


def _query_domain(args) -> str | None:
    """A `?domain=` filter, canonical; a bad name is a 422 on the query, not a 400 on a path."""
    domain = args.get("domain")
    if domain is None:
        return None
    try:
        return canonical_domain(domain)
    except ApiError as exc:
        raise ApiError(422, "invalid request", {"domain": [exc.detail]}) from None


@jobs.route("/syncs/<string:job_id>")
class SyncItem(MethodView):
    @needs("read")
    @jobs.response(200, s.JobSchema)
    @errors(jobs, 401, 403, 404)
    @jobs.doc(security=BEARER)
    def get(self, job_id: str):
        """One job (sync or drift check): state, times, result, error."""
        job = service().store.get(job_id)
        if job is None:
            raise ApiError(404, "not found", f"no job {job_id[:100]}")
        return reply(job.to_json())


@jobs.route("/drift-checks")
class DriftChecks(MethodView):
    @needs("sync")
    @jobs.arguments(s.DriftRequestSchema, required=False)
    @jobs.response(202, s.SubmittedSchema, headers={
        "Location": {"description": "/v1/syncs/<id>", "schema": {"type": "string"}}})
    @jobs.alt_response(429, schema=s.ErrorSchema, description="the queue is full")
    @errors(jobs, 400, 401, 403, 413, 415, 422)
    @jobs.doc(security=BEARER)
    def post(self, args):
        """Queue a drift check (live DNS against zones/, read-only) of some domains or all."""
        svc = service()
        domains = svc.check_domains((args or {}).get("domains"))
        job, coalesced = svc.submit("drift", domains, False, who())
        return _submitted(job, coalesced)


@jobs.route("/drift")
class Drift(MethodView):
    @needs("read")
    @jobs.arguments(s.DriftQuerySchema, location="query")
    @jobs.response(200, s.DriftListSchema)
    @errors(jobs, 401, 403, 422)
    @jobs.doc(security=BEARER)
    def get(self, args):
        """The latest drift report of each domain on each provider."""
        domain = _query_domain(args)
        return reply({"reports": service().store.latest_drift(domain)})


# --- the git webhook ---------------------------------------------------------------------------

hooks = Blueprint("hooks", __name__, url_prefix="/v1/hooks",
                  description="Git push webhooks (GitHub, GitLab): signed, no token")


@hooks.route("/git")
class GitHook(MethodView):
    @signed
    @hooks.doc(security=[], parameters=[
        {"in": "header", "name": "X-Hub-Signature-256", "required": False,
         "schema": {"type": "string"}, "description": "GitHub: sha256=<HMAC of the body>"},
        {"in": "header", "name": "X-Gitlab-Token", "required": False,
         "schema": {"type": "string"}, "description": "GitLab: the shared secret"}],
        requestBody={"required": False, "content": {"application/json": {
            "schema": {"type": "object"}}}})
    @hooks.response(202, s.HookResultSchema, description="pulled; a sync job was queued")
    @hooks.alt_response(200, schema=s.HookResultSchema,
                        description="pulled, nothing changed (or not a push event)")
    @errors(hooks, 401, 409, 413)
    def post(self):
        """Authenticated by its signature only (secret ZONESYNC_WEBHOOK_SECRET): fast-forward
        zones/ to its upstream and sync the domains whose files changed or were deleted. A
        diverged history is 409 and nothing changes (never forced, rebased or dropped)."""
        from .. import gitops

        svc = service()
        secret = svc.settings.webhook_secret
        body = request.get_data(cache=True)
        github = request.headers.get("X-Hub-Signature-256")
        gitlab = request.headers.get("X-Gitlab-Token")
        if not secret:
            ok = False
        elif github is not None:
            ok = gitops.verify_github(secret, body, github)
        elif gitlab is not None:
            ok = gitops.verify_gitlab(secret, gitlab)
        else:
            ok = False
        if not ok:
            current_app.logger.warning("webhook refused: %s from %s",
                                       "no secret configured" if not secret else
                                       "bad signature" if (github or gitlab) else "no signature",
                                       request.remote_addr)
            raise ApiError(401, "invalid signature",
                           "sign the body (X-Hub-Signature-256) or send X-Gitlab-Token"
                           if secret else "webhooks are not configured on this service")
        event = request.headers.get("X-GitHub-Event") or request.headers.get("X-Gitlab-Event")
        if event and event not in ("push", "Push Hook"):
            return reply({"event": event, "old_head": None, "new_head": None, "changed": [],
                          "deleted": [], "domains": None, "job": None}, 200)
        started = time.monotonic()
        out = hook_pull(svc)
        out["event"] = event
        current_app.logger.info("webhook: %s → %s in %.1f s, job %s", out["old_head"],
                                out["new_head"], time.monotonic() - started,
                                out["job"]["id"] if out["job"] else None)
        return reply(out, 202 if out["job"] else 200)


BLUEPRINTS = (health, domains, jobs, hooks)
