"""Checking the audit chain against signed checkpoints, on plain data.

Nothing here reads the database: the rows come from it (``manage.py verify_audit_chain``), from an auditor's
export (``verify_audit_export``) or from test vectors, and the checkpoints from a folder, the export or the
database. What a hash chain alone cannot show, a signed checkpoint does: an event at or before a checkpoint's
position that was altered, removed, or re-chained makes the chain disagree with the head hash the checkpoint
signed, and a chain that ends before the last checkpoint's position has lost its tail. Checkpoints name the
signature of the one before, so a removed checkpoint leaves a gap in the sequence.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audits.checkpoints.keys import document_signature_valid, key_id
from audits.services.trail import GENESIS, audit_values_digest

CHECKPOINT_FORMAT = "qms-audit-checkpoint/1"


@dataclass
class AnchoredReport:
    checked: int = 0
    head_position: int = 0
    head_hash: str = GENESIS
    checkpoints_checked: int = 0
    last_checkpoint: dict | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def events_per_second(self) -> float:
        return self.checked / self.seconds if self.seconds > 0 else 0.0


def checkpoint_parse(name: str, data: bytes, problems: list[str]) -> dict | None:
    try:
        document = json.loads(data)
    except ValueError:
        problems.append(f"{name}: not a JSON checkpoint")
        return None
    if not isinstance(document, dict) or document.get("format") != CHECKPOINT_FORMAT:
        problems.append(f"{name}: not a {CHECKPOINT_FORMAT} checkpoint")
        return None
    try:
        int(document["sequence"]), int(document["position"]), str(document["head_hash"])
    except (KeyError, TypeError, ValueError):
        problems.append(f"{name}: a checkpoint without sequence, position or head hash")
        return None
    return document


def checkpoints_check(
    documents: Iterable[dict], public_key: Ed25519PublicKey, *, from_first: bool = True
) -> tuple[list[dict], list[str]]:
    """The checkpoints whose signature verifies with ``public_key``, in sequence order, and what is wrong.

    ``from_first``: the series must start at checkpoint 1 (a folder or the database); an export holds a
    series from a later checkpoint on, which its verifier anchors separately.
    """
    problems: list[str] = []
    valid: list[dict] = []
    expected_key = key_id(public_key)
    for document in documents:
        if not document_signature_valid(document, public_key):
            named = document.get("key_id")
            why = "signed with another key" if named and named != expected_key else "its signature does not verify"
            problems.append(f"checkpoint {document.get('sequence')}: {why} (the public key's id is {expected_key})")
            continue
        valid.append(document)
    valid.sort(key=lambda d: int(d["sequence"]))
    previous: dict | None = None
    for document in valid:
        sequence = int(document["sequence"])
        if previous is None:
            if from_first and (sequence != 1 or document.get("previous_signature") is not None):
                problems.append(f"the first checkpoint held is {sequence}: checkpoints 1 to {sequence - 1} are missing")
        else:
            before = int(previous["sequence"])
            if sequence == before:
                problems.append(f"checkpoint {sequence} appears twice")
            elif sequence != before + 1:
                problems.append(
                    f"checkpoints {before + 1} to {sequence - 1} are missing (a gap between {before} and {sequence})"
                )
            elif document.get("previous_signature") != previous["signature"]:
                problems.append(f"checkpoint {sequence} does not name the signature of checkpoint {before}")
            if int(document["position"]) < int(previous["position"]):
                problems.append(f"checkpoint {sequence} names an earlier chain position than checkpoint {before}")
        previous = document
    return valid, problems


def _occurred(row: dict) -> dict:
    if isinstance(row.get("occurred_at"), str):
        row = {**row, "occurred_at": datetime.fromisoformat(row["occurred_at"])}
    return row


def chain_check(
    rows: Iterable[dict],
    checkpoints: list[dict],
    report: AnchoredReport,
    *,
    start_position: int = 0,
    start_hash: str = GENESIS,
) -> AnchoredReport:
    """Walk ``rows`` (events in position order, from ``start_position + 1``, each with the fields the chain
    hashes and its ``hash``) and check every link, every hash and every checkpoint they reach; stop at the
    first break. ``report`` collects the result (its ``problems`` may already hold the checkpoints')."""
    anchors: dict[int, list[dict]] = defaultdict(list)
    for checkpoint in checkpoints:
        position = int(checkpoint["position"])
        if position == start_position and checkpoint["head_hash"] != start_hash:
            report.problems.append(
                f"checkpoint {checkpoint['sequence']} signed #{position} as {checkpoint['head_hash']}, "
                f"but the chain there is {start_hash}"
            )
            return report
        if position > start_position:
            anchors[position].append(checkpoint)
    expected_position, expected_prev = start_position + 1, start_hash
    for raw in rows:
        row = _occurred(raw)
        position = int(row["position"])
        if position != expected_position:
            report.problems.append(
                f"event #{expected_position} is missing (the next one present is #{position})"
                if position > expected_position
                else f"event #{position} appears out of order (expected #{expected_position})"
            )
            break
        if row["prev_hash"] != expected_prev:
            report.problems.append(f"event #{position} does not link to the event before it")
            break
        if audit_values_digest(row) != row["hash"]:
            report.problems.append(f"event #{position} was altered after it was written")
            break
        mismatch = next((c for c in anchors.get(position, ()) if c["head_hash"] != row["hash"]), None)
        if mismatch is not None:
            report.problems.append(
                f"event #{position} is not the one checkpoint {mismatch['sequence']} signed "
                f"({mismatch.get('created_at')}): the chain up to it was rewritten"
            )
            break
        report.checkpoints_checked += len(anchors.get(position, ()))
        expected_position, expected_prev = position + 1, row["hash"]
        report.checked += 1
    report.head_position, report.head_hash = expected_position - 1, expected_prev
    if checkpoints:
        last = max(checkpoints, key=lambda c: int(c["sequence"]))
        report.last_checkpoint = last
        if not report.problems and int(last["position"]) > report.head_position:
            report.problems.append(
                f"the chain ends at #{report.head_position} but checkpoint {last['sequence']} "
                f"({last.get('created_at')}) covers #{last['position']}: events were removed from its tail"
            )
        elif not report.problems and report.head_position > int(last["position"]):
            report.notes.append(
                f"{report.head_position - int(last['position'])} event(s) after #{last['position']} "
                f"are not covered by a checkpoint yet"
            )
    return report
