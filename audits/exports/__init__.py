"""The auditor's export: every emergency change declared in a date range, with everything recorded about it,
as a zip whose manifest holds the SHA-256 of every file and the head of the audit chain.

Layout of the zip::

    manifest.json                 format, range, who and when, chain head, SHA-256 and size of every file
    changes/<identifier>.json     the change, its incident, the records hanging off it (bypasses, ...),
                                  its obligations and signatures, the field history of all of them and
                                  every audit event about any of them (with the fields the chain hashes)
    users.json                    every user those records name (id, username, name, roles, active)
    reports.json                  the compliance reports whose period overlaps the range
    summaries/<identifier>.pdf    a one-page summary of each change (``audits.evidence.summary``)
    controls/index.json           the evidence per control, as paths and JSON pointers (``audits.evidence.controls``)
    chain/events-<position>.jsonl the audit chain from a signed checkpoint before the first exported event to
                                  the head, and chain/checkpoints/: the checkpoints that anchor it
                                  (``audits.evidence.chain``), so the zip verifies with the public key alone

Reads are set-based: a fixed number of queries per chunk of changes, whatever the number of rows. On
PostgreSQL the reads run in one REPEATABLE READ snapshot, so the files and the chain head agree.
The export is then recorded as an ``audit.exported`` event holding the manifest's SHA-256, which is what
lets ``verify_audit_export --against-chain`` tell a genuine manifest from a rewritten one.

The export is written by ``write`` from the records ``collect`` gathers, and checked by ``verify``.
"""

from audits.exports.collect import CHILD_SOURCES, GENERIC_SOURCES, PERIOD_FIELDS, PERIOD_SOURCES
from audits.exports.verify import ExportVerification, audit_export_verify
from audits.exports.write import (
    CHUNK_SIZE,
    EXPORT_FORMAT,
    EXPORT_ROLES,
    MANIFEST,
    ExportSummary,
    audit_export_write,
    can_export_audit,
)

__all__ = [
    "CHILD_SOURCES",
    "CHUNK_SIZE",
    "EXPORT_FORMAT",
    "EXPORT_ROLES",
    "GENERIC_SOURCES",
    "MANIFEST",
    "PERIOD_FIELDS",
    "PERIOD_SOURCES",
    "ExportSummary",
    "ExportVerification",
    "audit_export_verify",
    "audit_export_write",
    "can_export_audit",
]
