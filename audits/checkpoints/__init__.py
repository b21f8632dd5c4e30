"""Signed checkpoints of the audit chain, kept outside the database (the way AWS CloudTrail signs digests).

``keys`` (the Ed25519 key), ``sinks`` (where checkpoints are written), ``verify`` (checking a chain against
checkpoints, on plain data) and ``services`` (writing one, verifying the database's chain).
"""
