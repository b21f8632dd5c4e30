"""The exports of a change follow its record: each markdown export is its template filled from the record,
and each PDF/A holds that markdown, shows its text inside the page, and manifests the signatures."""

from datetime import UTC

import pytest
from django.urls import reverse

from emergencies import documents
from emergencies.models import BypassRequest, ChangeRecord, PostMortem
from qms.models import Signature
from qms.roles import Role
from qms.services import content_hash, signatures_for
from tests.factories import close_emergency, file_stub
from tests.pdfcheck import assert_pdfa, assert_sound_layout, read_pdf, save_page_one

pytestmark = pytest.mark.django_db


def _utc(value, fmt="%Y-%m-%d %H:%M UTC"):
    return value.astimezone(UTC).strftime(fmt)


@pytest.fixture
def closed(oncall):
    """Filed with no commander named: the commander is whoever signs as incident commander."""
    change = file_stub(oncall, incident_ticket="INC-5150", title="Payments API times out")
    close_emergency(change)
    return ChangeRecord.objects.select_related("incident", "author", "bypass_authorised_by").get(pk=change.pk)


def _commander(change):
    bypass = BypassRequest.objects.get(change=change, level="E")
    return next(s for s in signatures_for(bypass) if s.role == "commander")


def _signature_lines(subject):
    current = content_hash(subject.signable_content())
    return "".join(
        f"- {s.signer_name} ({s.role_label}), {s.get_meaning_display().lower()}, "
        f"{_utc(s.signed_at, '%Y-%m-%d %H:%M:%S UTC')}, SHA-256 {s.content_hash}, "
        f"{'matches the record' if s.content_hash == current else 'no longer matches the record'}\n"
        for s in signatures_for(subject)
    )


def _front(change, status="Completed", development="completed"):
    return f"""---
id: {change.identifier}
title: "{change.title}"
tags:
  - change-document
  - emergency
  - p1-incident
custom_fields:
  document_type: change-record
  artifact_type: CHG
  change_level: EMERGENCY
  change_source: emergency
  development_status: {development}
status: {status}
date: {_utc(change.declared_at, "%Y-%m-%d")}
author: {change.author.display_name}
incident_ticket: {change.incident.ticket}
---
"""


def test_a_closed_changes_stub_shows_what_happened(closed):
    commander = _commander(closed)
    assert closed.incident.commander is None  # nobody was named at filing: the signer is the commander
    assert (
        documents.stub_markdown(closed)
        == _front(closed)
        + f"""
# {closed.identifier}: EMERGENCY - Payments API times out

## Incident Summary
- **Declared**: {_utc(closed.declared_at)}
- **Incident Commander**: {commander.signer_name}
- **Severity**: P1 Incident
- **Bypass Authorized By**: {closed.bypass_authorised_by.display_name}

## Problem Statement
{closed.problem_statement}

## Immediate Actions
- [x] Hotfix in progress
- [x] Monitoring active

## To Complete (Post-Incident)
- [x] Full CHG documentation
- [x] Post-mortem
- [x] Gate validation
"""
    )


def test_a_closed_changes_full_document_is_its_template_filled_from_the_record(closed):
    commander = _commander(closed)
    bypass = BypassRequest.objects.get(change=closed, level="E")
    deployment = "".join(f"- [x] {label}\n" for label, done in closed.deployment_checklist() if done)
    assert len(deployment.splitlines()) == len(closed.deployment_checklist())
    assert (
        documents.change_full_markdown(closed)
        == _front(closed)
        + f"""
# {closed.identifier}: EMERGENCY - Payments API times out

## Incident Summary
- **Declared**: {_utc(closed.declared_at)}
- **Incident Commander**: {commander.signer_name}
- **Severity**: P1 Incident
- **Bypass Authorized By**: {closed.bypass_authorised_by.display_name}
- **Resolved**: {_utc(closed.resolved_at)}

## Problem Statement
{closed.problem_statement}

## Root Cause Analysis
{closed.root_cause}

## Impact Assessment
{closed.impact_assessment}

## Timeline of Events
{closed.timeline}

## Affected Artifacts
{closed.affected_artifacts}

## Resolution
{closed.resolution}

## Rollback Plan
{closed.rollback_plan}

## Lessons Learned
{closed.lessons_learned}

## Emergency Deployment Checklist
{deployment}
## Full Documentation Requirements
- [x] Complete problem statement
- [x] Root cause analysis
- [x] Impact assessment
- [x] Timeline of events
- [x] All affected artifacts listed
- [x] Resolution details
- [x] Lessons learned

## Emergency CHG Closure Checklist
- [x] Full CHG document complete
- [x] Post-mortem conducted
- [x] Post-mortem document created
- [x] All gates retroactively validated
- [x] Follow-up CHGs created
- [x] Stakeholders notified
- [x] Status set to "Completed"

## Signatures
{_signature_lines(bypass)}"""
    )
    assert "matches the record" in _signature_lines(bypass)


def test_a_closed_changes_post_mortem_is_its_template_filled_from_the_record(closed):
    pm = PostMortem.objects.get(change=closed)
    timeline = "".join(f"| {_utc(r.at, '%H:%M')} | {r.event} |\n" for r in pm.timeline.all())
    measure = pm.preventive_measures.get()
    approval = next(s for s in signatures_for(pm) if s.meaning == Signature.Meaning.APPROVED)
    assert (
        documents.post_mortem_markdown(pm)
        == f"""---
title: "Post-Mortem: {closed.identifier}"
tags:
  - post-mortem
  - incident-review
custom_fields:
  chg_reference: {closed.identifier}
  incident_ticket: {closed.incident.ticket}
  post_mortem_date: {pm.post_mortem_date:%Y-%m-%d}
---

# Post-Mortem: {closed.identifier}

## Incident Summary
- **Duration**: {_utc(pm.incident_start)} to {_utc(pm.incident_end)}
- **Impact**: n/a
- **Severity**: P1 Incident

## Timeline
| Time | Event |
|------|-------|
{timeline}
## Root Cause Analysis

### 5-Whys
1. Why? 1
2. Why? 2
3. Why? 3
4. Why? 4
5. Why? (Root cause) 5

### Contributing Factors
- None recorded

## Impact Assessment
- Users affected: unknown
- Duration: unknown
- Revenue impact: n/a
- Reputational impact: n/a

## Resolution
fix

## Lessons Learned
1. What went well: w
2. What went poorly: p
3. Where we got lucky: n/a

## Action Items
| ID | Action | Owner | Due Date | Status |
|----|--------|-------|----------|--------|

## Preventive Measures
| Measure | CHG Reference | Priority |
|---------|---------------|----------|
| m | {measure.follow_up.identifier} | Low |

## Signatures
{_signature_lines(pm)}"""
    )
    assert approval.signer_name in _signature_lines(pm)


def test_the_change_page_names_the_commander_who_signed(client, closed, auditor):
    client.force_login(auditor)
    page = client.get(closed.get_absolute_url()).content.decode()
    assert f"<dt>Incident commander</dt><dd>{_commander(closed).signer_name}</dd>" in page
    assert "Not yet assigned" not in page


def test_a_named_commander_is_shown_before_anyone_signs(oncall, commander):
    change = file_stub(oncall, commander=commander)
    assert "- **Incident Commander**: Carlos Commander\n" in documents.stub_markdown(change)
    unnamed = file_stub(oncall)
    assert "- **Incident Commander**: Not yet assigned\n" in documents.stub_markdown(unnamed)
    assert "- [ ] Post-mortem\n- [ ] Gate validation\n" in documents.stub_markdown(unnamed)


# --- PDF/A ------------------------------------------------------------------------------------------------


def _markdown_lines(markdown: str) -> list[str]:
    """The text a reader sees of each line of the markdown body (markup stripped)."""
    body = markdown.split("\n---\n", 1)[1].split("\n## Signatures\n")[0]
    lines = []
    for line in body.splitlines():
        line = line.strip().lstrip("#").strip()
        if not line or set(line) <= set("|-"):
            continue
        line = line.removeprefix("- [x] ").removeprefix("- [ ] ").removeprefix("- ").replace("**", "")
        lines += [cell.strip() for cell in line.strip("|").split(" | ")] if line.startswith("|") else [line]
    return [line for line in lines if line]


@pytest.mark.parametrize("kind", ["stub", "full", "post_mortem"])
def test_each_pdf_reads_back_as_its_record(client, closed, auditor, kind):
    pm = PostMortem.objects.get(change=closed)
    url, markdown, name, subject = {
        "stub": (
            reverse("emergencies:change-stub-pdf", args=[closed.identifier]),
            documents.stub_markdown(closed),
            f"{closed.identifier}.md",
            BypassRequest.objects.get(change=closed, level="E"),
        ),
        "full": (
            reverse("emergencies:change-export", args=[closed.identifier, "pdf"]),
            documents.change_full_markdown(closed),
            f"{closed.identifier}-full.md",
            BypassRequest.objects.get(change=closed, level="E"),
        ),
        "post_mortem": (
            reverse("emergencies:post-mortem-export", args=[closed.identifier, "pdf"]),
            documents.post_mortem_markdown(pm),
            f"POST_MORTEM-{closed.identifier}.md",
            pm,
        ),
    }[kind]
    client.force_login(auditor)
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    pdf = read_pdf(response.content)
    save_page_one(response.content, f"pdf-{kind}.png")
    # The record itself is inside, byte for byte, and the footer names it and its SHA-256.
    assert pdf.attachments() == {name: markdown.encode()}
    from qms.pdf import sha256

    assert_sound_layout(pdf, footer=(closed.identifier, sha256(markdown)))
    assert_pdfa(pdf)
    # Every line of the record is in the PDF, in order.
    flat, position = pdf.flat, 0
    for line in _markdown_lines(markdown):
        line = " ".join(line.replace("- [x] ", "").split())
        found = flat.find(line, position)
        assert found >= 0, f"{line!r} is not in the PDF after position {position}"
        position = found + len(line)
    # The signatures' manifestation: printed name, UTC time, meaning, record hash, still matching.
    current = content_hash(subject.signable_content())
    signatures = signatures_for(subject)
    assert signatures
    for s in signatures:
        for part in (
            s.signer_name,
            s.get_method_display(),
            s.role_label,
            s.get_meaning_display(),
            _utc(s.signed_at, "%Y-%m-%d"),
            _utc(s.signed_at, "%H:%M:%S UTC"),
        ):
            assert part in flat, part
        assert s.content_hash in pdf.text.replace("\n", "")
        assert s.content_hash == current
    assert "Still matches" in flat and "Yes" in flat and "the record changed after signing" not in flat
    assert pdf.outline()[0].startswith(("CHG-EMG-", "Post-Mortem")) and "Signatures" in pdf.outline()


def test_an_edit_after_signing_shows_in_the_manifestation(oncall, commander):
    from emergencies.services.bypasses import bypass_sign

    change = file_stub(oncall, commander=commander)
    bypass = BypassRequest.objects.get(change=change, level="E")
    bypass_sign(bypass_id=bypass.pk, signer=commander, password="pw-correct-horse", role=Role.COMMANDER)
    bypass.refresh_from_db()
    bypass.reason = bypass.reason + " edited later"
    bypass.save()
    assert "no longer matches the record" in documents.change_full_markdown(change)
    pdf = read_pdf(documents.stub_pdf(change))
    assert "No: the record changed after signing" in pdf.flat
