"""Adds the evidence of ``audits.evidence`` to an export being written (called by ``audits.exports``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from django.core.serializers.json import DjangoJSONEncoder

from audits.evidence.chain import chain_evidence_write
from audits.evidence.controls import change_evidence, control_index
from audits.evidence.summary import summary_context, summary_pdf

logger = logging.getLogger(__name__)
INDEX = "controls/index.json"


def checkpoint_before_export() -> None:
    """Sign the chain's head first, so that everything the export holds is covered by a checkpoint (none
    when no signing key is configured; a chain that does not verify is exported as it is, and logged)."""
    from audits.checkpoints.keys import CheckpointKeyError
    from audits.checkpoints.services import CheckpointRefused, audit_checkpoint_write

    try:
        audit_checkpoint_write()
    except CheckpointKeyError:
        pass
    except CheckpointRefused as exc:
        logger.error("Exporting an audit chain that does not verify: %s", exc)


class EvidenceWriter:
    """Per change, its summary PDF and its index entries; at the end, the chain segment and the index."""

    def __init__(self, *, put: Callable[[str, bytes], None], files: dict, export: dict, section_of: dict[str, str]):
        self.put, self.files, self.export, self.section_of = put, files, export, section_of
        self.evidence: list[dict] = []
        self.first_position: int | None = None

    def change(self, *, identifier: str, name: str, data: dict, names: dict[int, str]) -> None:
        positions = [e["position"] for e in data.get("events", [])]
        if positions:
            self.first_position = min([*positions, *([self.first_position] if self.first_position else [])])
        pdf = f"summaries/{identifier}.pdf"
        found = change_evidence(file_name=name, data=data, section_of=self.section_of, names=names, summary=pdf)
        context = summary_context(
            data=data, evidence=found, names=names, file_sha256=self.files[name]["sha256"], export=self.export
        )
        self.put(pdf, summary_pdf(context))
        self.evidence.append(found)

    def finish(self, *, chain_head: dict) -> dict:
        """Write the chain segment and the control index; return the manifest's ``chain`` entry."""
        chain = chain_evidence_write(put=self.put, first_position=self.first_position, head=chain_head)
        index = control_index(changes=self.evidence, chain=chain, generated_at=self.export["generated_at"])
        self.put(INDEX, json.dumps(index, cls=DjangoJSONEncoder, sort_keys=True, indent=2, ensure_ascii=False).encode())
        return chain
