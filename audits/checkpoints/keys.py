"""The Ed25519 key that signs checkpoints: generating, loading, signing and checking.

The private key stays on the portal's host (``QMS_CHECKPOINT_KEY``, a PKCS#8 PEM file readable by its owner
only); the public key (``<key>.pub``, SubjectPublicKeyInfo PEM) is what gets published, so that anyone holding
it can check a checkpoint and nobody holding it can make one. A key is named by its id: the SHA-256 of its
raw 32 public bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings


class CheckpointKeyError(Exception):
    """The signing key is missing or is not an Ed25519 key."""


def canonical_bytes(body: dict) -> bytes:
    """The bytes a checkpoint's signature covers: its JSON without ``signature``, keys sorted, no spaces."""
    unsigned = {k: v for k, v in body.items() if k != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def private_key_path() -> Path:
    return Path(settings.QMS_CHECKPOINT_KEY)


def public_key_path(private_path: Path | None = None) -> Path:
    private_path = private_path or private_key_path()
    return private_path.with_name(private_path.name + ".pub")


def key_pair_generate(*, path: Path) -> tuple[Path, Path]:
    """Write a new key pair: ``path`` (private, mode 0600) and ``path.pub``. Never overwrites a key."""
    public_path = public_key_path(path)
    for target in (path, public_path):
        if target.exists():
            raise CheckpointKeyError(f"{target} exists; a signing key is never overwritten.")
    if not path.parent.is_dir():
        raise CheckpointKeyError(f"{path.parent} is not a directory.")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private_pem)
    public_path.write_bytes(public_key_pem(key.public_key()))
    return path, public_path


def public_key_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def private_key_load(path: Path | None = None) -> Ed25519PrivateKey:
    path = path or private_key_path()
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError as exc:
        raise CheckpointKeyError(
            f"No checkpoint signing key at {path}: run `manage.py audit_checkpoint_keygen` (QMS_CHECKPOINT_KEY)."
        ) from exc
    except (ValueError, TypeError) as exc:
        raise CheckpointKeyError(f"{path} is not a PEM private key.") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointKeyError(f"{path} is not an Ed25519 key.")
    return key


def public_key_load(path: Path | str) -> Ed25519PublicKey:
    """A published public key: a PEM file (SubjectPublicKeyInfo), or the private key's PEM file itself."""
    data = Path(path).read_bytes()
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        try:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        except (ValueError, TypeError) as exc:
            raise CheckpointKeyError(f"{path} is not a PEM public key.") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise CheckpointKeyError(f"{path} is not an Ed25519 public key.")
    return key


def default_public_key() -> Ed25519PublicKey:
    """This portal's own public key: the published file beside the private key, else derived from it."""
    public_path = public_key_path()
    if public_path.exists():
        return public_key_load(public_path)
    return private_key_load().public_key()


def document_sign(body: dict, key: Ed25519PrivateKey) -> dict:
    signed = dict(body)
    signed["key_id"] = key_id(key.public_key())
    signed["signature"] = base64.b64encode(key.sign(canonical_bytes(signed))).decode()
    return signed


def document_signature_valid(document: dict, public_key: Ed25519PublicKey) -> bool:
    try:
        signature = base64.b64decode(document["signature"], validate=True)
        public_key.verify(signature, canonical_bytes(document))
    except (KeyError, TypeError, ValueError, InvalidSignature):
        return False
    return True
