"""Golden vectors for the checkpoint verifier: a small audit chain, its signed checkpoints, and copies of
them tampered with in each way the verifier must catch (or changed in ways it must accept).

The committed files under ``vectors/checkpoints/`` are what ``build(out)`` writes; Ed25519 signatures are
deterministic, so ``python -m tests.audits.checkpoint_vectors`` rebuilds them byte for byte, and a test checks
that it does. ``signing-key.pem`` and ``other-key.pem`` are test keys, made for these vectors and nothing else.
"""

from __future__ import annotations

import base64
import json
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audits.checkpoints.keys import document_sign, public_key_pem
from audits.checkpoints.services import checkpoint_bytes
from audits.checkpoints.sinks import checkpoint_file_name
from audits.checkpoints.verify import CHECKPOINT_FORMAT
from audits.services import GENESIS, audit_values_digest

ROOT = Path(__file__).parent / "vectors" / "checkpoints"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
# Fixed 32-byte seeds: the keys (and so every signature) are the same on every rebuild.
SIGNING_SEED = bytes(range(32))
OTHER_SEED = bytes(range(100, 132))
CHECKPOINT_AT = (4, 8, 12)

# (vector, must pass, a phrase the first problem (or note) must contain)
EXPECTED = {
    "valid": (True, "checkpoint(s) matched"),
    "valid-uncovered-tail": (True, "2 event(s) after #12 are not covered by a checkpoint yet"),
    "flipped-byte": (False, "event #6 was altered after it was written"),
    "flipped-byte-rechained": (False, "event #8 is not the one checkpoint 2 signed"),
    "deleted-middle-event": (False, "event #6 is missing"),
    "deleted-middle-event-rechained": (False, "event #8 is not the one checkpoint 2 signed"),
    "truncated-tail": (False, "the chain ends at #10 but checkpoint 3"),
    "resigned-forged-chain": (False, "signed with another key"),
    "checkpoint-gap": (False, "checkpoints 2 to 2 are missing (a gap between 1 and 3)"),
    "first-checkpoint-removed": (False, "the first checkpoint held is 2"),
    "checkpoint-edited": (False, "checkpoint 3: its signature does not verify"),
}


def _key(seed: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(seed)


def _event(position: int) -> dict:
    return {
        "position": position,
        "occurred_at": (T0 + timedelta(minutes=7 * position)).isoformat(),
        "actor_id": None,
        "actor_name": "system" if position % 3 else "Dana Reviewer",
        "actor_roles": "" if position % 3 else "QMS coordinator",
        "action": ("change.filed", "signature.approved", "change.deploy", "obligation.satisfied")[position % 4],
        "subject_type": "emergencies.changerecord",
        "subject_id": str(1 + position // 4),
        "subject_label": f"CHG-EMG-20260105-09{position:02d}",
        "reason": f"vector event {position}",
        "before": {},
        "after": {"step": position, "note": "ünïcode ✓"},
        "ip_address": "",
    }


def _chain(rows: list[dict], start_hash: str = GENESIS) -> list[dict]:
    """Number and hash rows as the portal does (positions from 1, each naming the hash before it)."""
    prev = start_hash
    out = []
    for i, row in enumerate(rows, start=1):
        row = {**row, "position": i, "prev_hash": prev}
        row["hash"] = prev = audit_values_digest({**row, "occurred_at": datetime.fromisoformat(row["occurred_at"])})
        out.append(row)
    return out


def _checkpoints(chain: list[dict], key: Ed25519PrivateKey, at=CHECKPOINT_AT) -> list[dict]:
    documents, previous = [], None
    for sequence, position in enumerate(at, start=1):
        body = {
            "format": CHECKPOINT_FORMAT,
            "sequence": sequence,
            "position": position,
            "head_hash": chain[position - 1]["hash"],
            "event_count": position,
            "last_event_id": 100 + position,
            "created_at": (T0 + timedelta(hours=sequence)).isoformat(),
            "previous_sequence": previous["sequence"] if previous else None,
            "previous_signature": previous["signature"] if previous else None,
        }
        previous = document_sign(body, key)
        documents.append(previous)
    return documents


def _write(out: Path, name: str, events: list[dict], checkpoints: list[dict]) -> None:
    folder = out / name
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "events.jsonl").write_text(
        "".join(json.dumps(e, sort_keys=True, ensure_ascii=False) + "\n" for e in events), encoding="utf-8"
    )
    for document in checkpoints:
        (folder / "checkpoints" / checkpoint_file_name(document["sequence"])).write_bytes(checkpoint_bytes(document))
    must_pass, phrase = EXPECTED[name]
    (folder / "expected.json").write_text(json.dumps({"ok": must_pass, "contains": phrase}, indent=2) + "\n")


def build(out: Path = ROOT) -> None:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    key, other = _key(SIGNING_SEED), _key(OTHER_SEED)
    (out / "public-key.pem").write_bytes(public_key_pem(key.public_key()))
    for name, k in (("signing-key.pem", key), ("other-key.pem", other)):
        pem = k.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        (out / name).write_bytes(pem)

    base = [_event(p) for p in range(1, 15)]
    chain = _chain(base[:12])
    checkpoints = _checkpoints(chain, key)
    _write(out, "valid", chain, checkpoints)
    _write(out, "valid-uncovered-tail", _chain(base), checkpoints)

    flipped = [dict(e) for e in chain]
    reason = flipped[5]["reason"].encode()
    flipped[5]["reason"] = (reason[:-1] + bytes([reason[-1] ^ 0x01])).decode()
    _write(out, "flipped-byte", flipped, checkpoints)
    _write(
        out,
        "flipped-byte-rechained",
        _chain([{**e, "reason": f["reason"]} for e, f in zip(base, flipped, strict=False)][:12]),
        checkpoints,
    )

    _write(out, "deleted-middle-event", chain[:5] + chain[6:], checkpoints)
    _write(out, "deleted-middle-event-rechained", _chain(base[:5] + base[6:13]), checkpoints)
    _write(out, "truncated-tail", chain[:10], checkpoints)

    forged = _chain([*base[:2], {**base[2], "reason": "nothing was approved here"}, *base[3:12]])
    _write(out, "resigned-forged-chain", forged, _checkpoints(forged, other))

    _write(out, "checkpoint-gap", chain, [checkpoints[0], checkpoints[2]])
    _write(out, "first-checkpoint-removed", chain, checkpoints[1:])
    edited = {**checkpoints[2], "position": 11, "head_hash": chain[10]["hash"]}
    _write(out, "checkpoint-edited", chain, [*checkpoints[:2], edited])
    assert set(EXPECTED) == {p.name for p in out.iterdir() if p.is_dir()}
    assert base64.b64decode(checkpoints[0]["signature"])  # a real signature, not a placeholder


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT)
