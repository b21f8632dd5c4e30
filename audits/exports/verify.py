"""Checking an auditor's export: every file against its manifest, every exported event against its chain
hash, the chain segment against the signed checkpoints it carries and, on request, against the live chain."""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from datetime import datetime

from audits.evidence.chain import chain_evidence_verify
from audits.exports.write import EXPORT_FORMAT, MANIFEST
from audits.models import AuditEvent
from audits.services.trail import HASHED_FIELDS, audit_event_digest


@dataclass
class ExportVerification:
    files_checked: int = 0
    events_checked: int = 0
    problems: list[str] = field(default_factory=list)
    manifest: dict = field(default_factory=dict)
    manifest_sha256: str = ""
    notes: list[str] = field(default_factory=list)
    checkpoints_checked: int = 0
    last_checkpoint: dict | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _event_from_row(row: dict) -> AuditEvent:
    values = {name: row.get(name) for name in HASHED_FIELDS}
    values["occurred_at"] = datetime.fromisoformat(row["occurred_at"])
    return AuditEvent(**values)


def audit_export_verify(*, source, against_chain: bool = False, public_key=None) -> ExportVerification:
    """Recompute every file's SHA-256 against the manifest and every exported event's chain hash, and walk
    the export's chain segment, finding every exported event in it.

    ``source`` is a path or a binary file. With ``public_key`` (the published Ed25519 key), the segment must
    also agree with every checkpoint the export carries, each signed with that key, in an unbroken series:
    nothing up to the last checkpoint can have been changed, removed or cut off, manifest rewritten or not.
    With ``against_chain``, the manifest must also be the one this portal recorded in an ``audit.exported``
    event, and the exported events must match the live chain.
    """
    result = ExportVerification()
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        result.problems.append(f"not a readable zip file ({exc})")
        return result
    with zf:
        names = set(zf.namelist())
        if MANIFEST not in names:
            result.problems.append("manifest.json is missing")
            return result
        manifest_bytes = zf.read(MANIFEST)
        result.manifest_sha256 = hashlib.sha256(manifest_bytes).hexdigest()
        try:
            manifest = json.loads(manifest_bytes)
            files = manifest["files"]
            if manifest.get("format") != EXPORT_FORMAT or not isinstance(files, dict):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            result.problems.append(f"manifest.json is not a {EXPORT_FORMAT} manifest")
            return result
        result.manifest = manifest
        for name in sorted(names - set(files) - {MANIFEST}):
            result.problems.append(f"{name}: not listed in the manifest")
        exported_events: dict[int, str] = {}
        for name, expected in sorted(files.items()):
            if name not in names:
                result.problems.append(f"{name}: listed in the manifest but missing")
                continue
            digest = hashlib.sha256()
            with zf.open(name) as fh:
                for block in iter(lambda fh=fh: fh.read(1 << 16), b""):
                    digest.update(block)
            result.files_checked += 1
            if digest.hexdigest() != expected.get("sha256"):
                result.problems.append(f"{name}: SHA-256 does not match the manifest")
                continue
            if name.startswith("changes/"):
                _verify_events(zf.read(name), name, result, exported_events)
        if not result.problems:
            anchored = chain_evidence_verify(zf=zf, manifest=manifest, exported=exported_events, public_key=public_key)
            result.problems += anchored.problems
            result.notes += anchored.notes
            result.checkpoints_checked, result.last_checkpoint = anchored.checkpoints_checked, anchored.last_checkpoint
    if against_chain and not result.problems:
        _verify_against_chain(result, exported_events)
    return result


def _verify_events(data: bytes, name: str, result: ExportVerification, exported: dict[int, str]) -> None:
    try:
        events = json.loads(data).get("events", [])
        for row in events:
            result.events_checked += 1
            if audit_event_digest(_event_from_row(row)) != row.get("hash"):
                result.problems.append(f"{name}: event #{row.get('position')} does not match its chain hash")
            else:
                exported[int(row["position"])] = row["hash"]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        result.problems.append(f"{name}: unreadable ({exc.__class__.__name__})")


def _verify_against_chain(result: ExportVerification, exported: dict[int, str]) -> None:
    head = result.manifest.get("chain_head") or {}
    position = head.get("position")
    if position:
        live = AuditEvent.objects.filter(position=position).values_list("hash", flat=True).first()
        if live != head.get("hash"):
            result.problems.append(f"the chain head #{position} named by the manifest is not in the audit chain")
    recorded = AuditEvent.objects.filter(
        action="audit.exported", after__manifest_sha256=result.manifest_sha256
    ).exists()
    if not recorded:
        result.problems.append("no audit.exported event records this manifest: it was not produced by this portal")
    positions = sorted(exported)
    for i in range(0, len(positions), 2000):
        batch = positions[i : i + 2000]
        live = dict(AuditEvent.objects.filter(position__in=batch).values_list("position", "hash"))
        for pos in batch:
            if live.get(pos) != exported[pos]:
                result.problems.append(f"event #{pos} differs from the live audit chain")
