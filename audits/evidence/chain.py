"""The audit chain inside an auditor's export, and its verification with only the zip and the public key.

The export holds every event from a signed checkpoint before its first exported event (or the chain's start)
to the chain head of its snapshot (``chain/events-<first position>.jsonl``), and every checkpoint from that
one on (``chain/checkpoints/``). A verifier recomputes the chain from the starting checkpoint's signed head,
checks it against each later checkpoint, and finds each exported event in it: an event changed, removed or
cut from the tail before the last checkpoint cannot pass, whoever rewrote the manifest.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audits.checkpoints.services import chain_rows, checkpoint_bytes
from audits.checkpoints.sinks import checkpoint_file_name
from audits.checkpoints.verify import AnchoredReport, chain_check, checkpoint_parse, checkpoints_check
from audits.models import AuditCheckpoint
from audits.services.trail import GENESIS

EVENTS_PER_FILE = 20_000
CHECKPOINT_DIR = "chain/checkpoints/"


def _line(row: dict) -> bytes:
    row = {**row, "occurred_at": row["occurred_at"].astimezone(UTC).isoformat()}
    return json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode() + b"\n"


def chain_evidence_write(*, put: Callable[[str, bytes], None], first_position: int | None, head: dict) -> dict:
    """Write the chain segment and its checkpoints through ``put``; return what the manifest says of them."""
    head_position = head["position"]
    first_position = head_position + 1 if first_position is None else first_position
    checkpoints = list(AuditCheckpoint.objects.filter(position__lte=head_position).order_by("sequence"))
    start = next((c for c in reversed(checkpoints) if c.position < first_position), None)
    if start is not None:
        checkpoints = [c for c in checkpoints if c.sequence >= start.sequence]
    start_position = start.position if start is not None else 0
    event_files: list[str] = []
    buffer: list[bytes] = []
    first_in_file = start_position + 1
    for row in chain_rows(after=start_position, upto=head_position):
        buffer.append(_line(row))
        if len(buffer) == EVENTS_PER_FILE:
            event_files.append(f"chain/events-{first_in_file:012d}.jsonl")
            put(event_files[-1], b"".join(buffer))
            buffer, first_in_file = [], row["position"] + 1
    if buffer:
        event_files.append(f"chain/events-{first_in_file:012d}.jsonl")
        put(event_files[-1], b"".join(buffer))
    checkpoint_files = []
    for checkpoint in checkpoints:
        checkpoint_files.append(CHECKPOINT_DIR + checkpoint_file_name(checkpoint.sequence))
        put(checkpoint_files[-1], checkpoint_bytes(checkpoint.document))
    return {
        "from_position": start_position,
        "to_position": head_position,
        "start_checkpoint": start.sequence if start is not None else None,
        "event_files": event_files,
        "checkpoint_files": checkpoint_files,
        "key_ids": sorted({c.key_id for c in checkpoints}),
    }


def _segment_rows(zf: zipfile.ZipFile, names: list[str], seen: dict[int, str], wanted: set[int]) -> Iterator[dict]:
    for name in names:
        with zf.open(name) as fh:
            for line in fh:
                row = json.loads(line)
                if row["position"] in wanted:
                    seen[row["position"]] = row["hash"]
                yield row


def chain_evidence_verify(
    *, zf: zipfile.ZipFile, manifest: dict, exported: dict[int, str], public_key: Ed25519PublicKey | None
) -> AnchoredReport:
    """Check the export's chain segment (and, with ``public_key``, its checkpoints) and that every exported
    event is the one in it. Files were already checked against the manifest."""
    report = AnchoredReport()
    chain = manifest.get("chain")
    if not isinstance(chain, dict):
        if public_key is not None:
            report.problems.append("the export carries no audit chain segment to check against checkpoints")
        return report
    try:
        start_position, to_position = int(chain["from_position"]), int(chain["to_position"])
        event_files, checkpoint_files = list(chain["event_files"]), list(chain["checkpoint_files"])
        start_sequence = chain.get("start_checkpoint")
    except (KeyError, TypeError, ValueError):
        report.problems.append("the manifest's chain section is unreadable")
        return report
    absent = [n for n in (*event_files, *checkpoint_files) if n not in set(zf.namelist())]
    if absent:
        report.problems += [f"{name}: named by the manifest's chain section but not in the zip" for name in absent]
        return report
    checkpoints: list[dict] = []
    start_hash = GENESIS
    if public_key is not None:
        documents = [d for n in checkpoint_files if (d := checkpoint_parse(n, zf.read(n), report.problems))]
        checkpoints, problems = checkpoints_check(documents, public_key, from_first=start_sequence is None)
        report.problems += problems
        if not checkpoints:
            report.problems.append("no checkpoint in the export verifies with the public key")
        if start_sequence is not None:
            anchor = next((c for c in checkpoints if c["sequence"] == start_sequence), None)
            if anchor is None or int(anchor["position"]) != start_position:
                report.problems.append(f"the segment's starting checkpoint {start_sequence} is missing or invalid")
                return report
            start_hash = anchor["head_hash"]
    else:
        report.notes.append("checkpoint signatures not checked: give the published public key (--public-key)")
    if start_sequence is not None and public_key is None:
        # Without the key the start is taken on trust from the first event's own link.
        first = next(_segment_rows(zf, event_files[:1], {}, set()), None)
        start_hash = first["prev_hash"] if first else start_hash
    seen: dict[int, str] = {}
    wanted = set(exported)
    try:
        chain_check(
            _segment_rows(zf, event_files, seen, wanted),
            checkpoints,
            report,
            start_position=start_position,
            start_hash=start_hash,
        )
    except (ValueError, KeyError, TypeError) as exc:
        report.problems.append(f"the chain segment is unreadable ({exc.__class__.__name__})")
        return report
    head = manifest.get("chain_head") or {}
    if report.ok and (report.head_position, report.head_hash) != (to_position, head.get("hash", report.head_hash)):
        report.problems.append(f"the chain segment ends at #{report.head_position}, not at the head #{to_position}")
    if not report.ok:
        return report  # the walk stopped at the first break: later events were not reached
    for position in sorted(exported):
        if position not in seen:
            report.problems.append(f"exported event #{position} is not in the export's chain segment")
        elif seen[position] != exported[position]:
            report.problems.append(f"exported event #{position} differs from the chain segment")
    return report
