"""Serializer fields shared by the API's modules."""

from __future__ import annotations

from rest_framework import serializers

from qms.procedures import GATE_CODE_HELP, GATE_CODE_MAX, GATE_CODE_PATTERN


def gate_code_field(*, of: str = "the change's", **kwargs) -> serializers.RegexField:
    """A gate (check) code. A procedure may define gates of its own, so the schema cannot enumerate them: the
    format is checked here and the code itself by the service, against the version the record pinned."""
    kwargs.setdefault(
        "help_text", f"One of the gate codes of {of} procedure version (its gate catalogue), e.g. full_regression."
    )
    return serializers.RegexField(
        GATE_CODE_PATTERN,
        max_length=GATE_CODE_MAX,
        error_messages={"invalid": f"A gate code is {GATE_CODE_HELP}."},
        **kwargs,
    )
