"""marshmallow schemas: what /openapi.json says each route takes and gives.

Request bodies of /v1/syncs and the query strings are parsed with these schemas. The body of
``PUT /v1/domains/{domain}`` is only *documented* by ``DescriptionSchema``: it is validated by
zonesync's own loader and lint, exactly as ``zonesync validate`` checks a file, so that the API
and the CLI report the same findings.
"""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from ..store import STATES

TRANSPORTS = ["udp", "tcp", "tls", "sctp", "tls-sctp", "ws", "wss"]


class ErrorSchema(Schema):
    error = fields.String(required=True, metadata={"description": "what went wrong"})
    detail = fields.Raw(allow_none=True, metadata={
        "description": "more: a text, the findings of a description, the invalid fields"})


# --- descriptions (the YAML format, as JSON) -----------------------------------------------------

class TargetSchema(Schema):
    host = fields.String(required=True)
    port = fields.Integer(validate=validate.Range(0, 65535))
    priority = fields.Integer(validate=validate.Range(0, 65535))
    weight = fields.Integer(validate=validate.Range(0, 65535))


class EntrySchema(Schema):
    transport = fields.String(required=True, validate=validate.OneOf(TRANSPORTS))
    order = fields.Integer(validate=validate.Range(0, 65535))
    preference = fields.Integer(validate=validate.Range(0, 65535))
    srv = fields.String()
    targets = fields.List(fields.Nested(TargetSchema), required=True)


class DescriptionSchema(Schema):
    """A SIP domain description: the schema of zones/<domain>.yaml (README), as JSON."""

    domain = fields.String(metadata={"description": "the SIP domain; absent: the path's domain"})
    zone = fields.String(metadata={"description": "the DNS zone holding the records"})
    ttl = fields.Integer(validate=validate.Range(0, 2**31 - 1))
    providers = fields.List(fields.String())
    naptr = fields.Boolean()
    adopt = fields.Boolean()
    hosts = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                        metadata={"description": "host name → its IPv4/IPv6 addresses"})
    sip = fields.List(fields.Nested(EntrySchema))
    disabled = fields.List(fields.String(validate=validate.OneOf(TRANSPORTS)))


class FindingSchema(Schema):
    rule = fields.String()
    severity = fields.String(validate=validate.OneOf(["error", "warning"]))
    file = fields.String(allow_none=True)
    line = fields.Integer(allow_none=True)
    path = fields.String(allow_none=True)
    message = fields.String()
    fix = fields.String(allow_none=True)
    rfc = fields.String(allow_none=True)
    record = fields.String(allow_none=True)


class RecordSchema(Schema):
    name = fields.String()
    ttl = fields.Integer()
    type = fields.String()
    rdata = fields.String()
    value = fields.Dict()


class DomainStateSchema(Schema):
    last_sync_at = fields.Float(allow_none=True)
    last_job_id = fields.String(allow_none=True)
    last_ok = fields.Boolean(allow_none=True)
    last_success_at = fields.Float(allow_none=True)
    last_verified_ok = fields.Boolean(allow_none=True)


class DomainSummarySchema(Schema):
    domain = fields.String()
    file = fields.String(allow_none=True)
    zone = fields.String(allow_none=True)
    described = fields.Boolean()
    valid = fields.Boolean()
    errors = fields.Integer()
    warnings = fields.Integer()
    state = fields.Nested(DomainStateSchema, allow_none=True)
    drift = fields.String(allow_none=True, metadata={
        "description": "the worst state of the latest drift check: clean|pending|drift|error"})


class DomainListSchema(Schema):
    domains = fields.List(fields.Nested(DomainSummarySchema))


class DomainDetailSchema(Schema):
    domain = fields.String()
    file = fields.String()
    zone = fields.String(allow_none=True)
    valid = fields.Boolean()
    description = fields.Raw(allow_none=True, metadata={
        "description": "the description file's content as JSON (what PUT takes)"})
    records = fields.List(fields.Nested(RecordSchema))
    findings = fields.List(fields.Nested(FindingSchema))
    state = fields.Nested(DomainStateSchema, allow_none=True)
    drift = fields.List(fields.Dict())
    commit = fields.String(allow_none=True, metadata={"description": "the git commit (PUT)"})


class DeletedSchema(Schema):
    domain = fields.String()
    file = fields.String()
    deleted = fields.Boolean()
    commit = fields.String(allow_none=True)


# --- jobs ------------------------------------------------------------------------------------------

class DomainsField(fields.Field):
    """``"all"`` or a list of domain names."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value == "all":
            return None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            if not value:
                raise ValidationError('give at least one domain, or "all"')
            if len(value) > 1000:
                raise ValidationError("at most 1000 domains a request")
            return list(value)
        raise ValidationError('"all" or a list of domain names')

    def _serialize(self, value, attr, obj, **kwargs):
        return "all" if value is None else value


_DOMAINS_DOC = {"oneOf": [{"type": "string", "enum": ["all"]},
                          {"type": "array", "items": {"type": "string"}, "minItems": 1}],
                "description": '"all", or the domains to sync (their whole zones are synced)'}


class SyncRequestSchema(Schema):
    domains = DomainsField(required=True, metadata=_DOMAINS_DOC)
    dry_run = fields.Boolean(load_default=False, metadata={
        "description": "plan only: nothing is applied"})


class DriftRequestSchema(Schema):
    domains = DomainsField(load_default=None, metadata={**_DOMAINS_DOC, "default": "all"})


class SubmittedSchema(Schema):
    id = fields.String()
    state = fields.String(validate=validate.OneOf(STATES))
    coalesced = fields.Boolean(metadata={
        "description": "true: an already queued job covers this request; its id is given"})
    kind = fields.String()


class JobSchema(Schema):
    id = fields.String()
    kind = fields.String(validate=validate.OneOf(["sync", "drift"]))
    state = fields.String(validate=validate.OneOf(STATES))
    requested_by = fields.String(metadata={"description": "the name of the token that asked"})
    domains = fields.List(fields.String(), allow_none=True,
                          metadata={"description": "null: every domain"})
    dry_run = fields.Boolean()
    created_at = fields.Float()
    started_at = fields.Float(allow_none=True)
    finished_at = fields.Float(allow_none=True)
    attempts = fields.Integer()
    coalesced = fields.Integer(metadata={"description": "requests merged into this job"})
    result = fields.Dict(allow_none=True, metadata={
        "description": "plan, applied, verified, timings (sync); reports (drift)"})
    error = fields.String(allow_none=True)


class JobListSchema(Schema):
    jobs = fields.List(fields.Nested(JobSchema))


class JobQuerySchema(Schema):
    domain = fields.String(validate=validate.Length(1, 253))
    state = fields.String(validate=validate.OneOf(STATES))
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))


class DriftQuerySchema(Schema):
    domain = fields.String(validate=validate.Length(1, 253))


class DriftListSchema(Schema):
    reports = fields.List(fields.Dict())


class HookResultSchema(Schema):
    event = fields.String(allow_none=True)
    old_head = fields.String(allow_none=True)
    new_head = fields.String(allow_none=True)
    changed = fields.List(fields.String())
    deleted = fields.List(fields.String())
    domains = fields.List(fields.String(), allow_none=True)
    job = fields.Nested(SubmittedSchema, allow_none=True)


class HealthSchema(Schema):
    status = fields.String()


class ReadySchema(Schema):
    ready = fields.Boolean()
    checks = fields.Dict()
