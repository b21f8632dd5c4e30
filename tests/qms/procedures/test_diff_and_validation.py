"""The diff in words covers every kind of rule (and keys it does not know); validation names the field."""

import copy

import pytest

from qms.procedures import PRESETS, validate_definition
from qms.procedures.diff import definition_diff

EBW = copy.deepcopy(PRESETS[0]["definition"])
CMWF = copy.deepcopy(PRESETS[3]["definition"])


def changed(base, edit):
    new = copy.deepcopy(base)
    edit(new)
    return definition_diff(base, new)


def _clock(d, kind):
    return next(c for c in d["clocks"] if c["kind"] == kind)


CASES = [
    ("clock amount", EBW, lambda d: _clock(d, "post_mortem").update(amount=48), "Post-mortem deadline: 72 h → 48 h."),
    (
        "clock unit and basis",
        EBW,
        lambda d: _clock(d, "post_mortem").update(amount=3, unit="days", basis="business"),
        "Post-mortem deadline: 72 h → 3 d (business days).",
    ),
    (
        "clock owner",
        EBW,
        lambda d: _clock(d, "hotfix").update(owner="commander"),
        "Hotfix deployed owner: author → commander.",
    ),
    (
        "clock per severity",
        CMWF,
        lambda d: _clock(d, "hotfix")["by_severity"]["HIGH"].update(amount=48),
        "Patch deployed deadline for HIGH: 72 h → 48 h.",
    ),
    (
        "clock added",
        EBW,
        lambda d: d["clocks"].append({"kind": "x", "label": "Review", "amount": 2, "unit": "hours"}),
        "Review deadline: added (2 h).",
    ),
    ("clock removed", EBW, lambda d: d["clocks"].pop(), "Post-mortem deadline: removed (was 72 h)."),
    ("day basis", EBW, lambda d: d.update(day_basis="business"), "Day basis: calendar days → business days."),
    (
        "severity scale",
        EBW,
        lambda d: d["severity_scale"].append({"code": "P2", "label": "P2 Incident"}),
        "Severity scale: adds P2 Incident.",
    ),
    (
        "severity label",
        EBW,
        lambda d: d["severity_scale"][0].update(label="Priority 1"),
        "Severity scale P1 label: P1 Incident → Priority 1.",
    ),
    (
        "category severity",
        EBW,
        lambda d: d["category_severity"].update(data_breach="P1"),
        "Severity of a category for Data breach: DATA_BREACH → P1.",
    ),
    (
        "emergency criteria",
        EBW,
        lambda d: d["emergency_criteria"].update(cvss_emergency_min="8.5"),
        "Emergency criteria cvss emergency min: 9.0 → 8.5.",
    ),
    (
        "stub authorisers",
        EBW,
        lambda d: d["stub_authorisers"].update(p1_incident=["commander", "executive"]),
        "Stub authorisers for P1 incident: Incident commander → Incident commander, Executive (adds Executive).",
    ),
    (
        "bypass authorisers",
        EBW,
        lambda d: d["bypass_levels"]["L1"].update(authorisers=[["lead", "architect"]]),
        "Bypass level L1 authorisers: Development lead → Development lead or Core architect.",
    ),
    (
        "bypass remediation",
        EBW,
        lambda d: d["bypass_levels"]["E"]["remediation"].update(amount=48),
        "Bypass level E remediation: 72 h → 48 h.",
    ),
    (
        "bypass review",
        EBW,
        lambda d: d["bypass_levels"]["L1"]["reviews"][0].update(amount=1),
        "Bypass level L1 reviews Lead review: 2 h → 1 h.",
    ),
    (
        "decision tree",
        EBW,
        lambda d: d["decision_tree"].update(low_other="L1"),
        "Bypass decision tree low other: L2 → L1.",
    ),
    (
        "preconditions",
        EBW,
        lambda d: d["transitions"].update(close=[]),
        "Preconditions close: closure_checklist → none (removes closure_checklist).",
    ),
    ("ccb required", EBW, lambda d: d.update(ccb_required=True), "CCB required: no → yes."),
    ("ccb", CMWF, lambda d: d["ccb"].update(quorum_note="x"), "CCB quorum note: added (x)."),
    (
        "verbal window",
        EBW,
        lambda d: d.update(verbal_confirmation_hours=12),
        "Verbal approval confirmation window: 24 h → 12 h.",
    ),
    (
        "verbal recorders",
        EBW,
        lambda d: d["verbal_recorder_roles"].remove("lead"),
        "Who may record a verbal approval:",
    ),
    (
        "rollback",
        EBW,
        lambda d: d["rollback_triggers"].update(error_rate_increase_pct="3"),
        "Rollback trigger error rate increase pct: 5 → 3.",
    ),
    (
        "deferred",
        EBW,
        lambda d: d["deferred_on_deploy"][0].update(amount=48),
        "Deferred on deployment Full regression (deferred from the hotfix): 72 h → 48 h.",
    ),
    (
        "channels",
        EBW,
        lambda d: d["channels"]["audiences"]["public"].remove("title"),
        "Channel fields sent to public: removes Title.",
    ),
    (
        "proceed before authorisation",
        EBW,
        lambda d: d["proceed_before_authorisation"].update(roles=["commander", "executive"]),
        "Proceed before authorisation roles: Incident commander → Incident commander, Executive (adds Executive).",
    ),
    ("summary", EBW, lambda d: d.update(summary="New words"), "Summary: "),
    ("unknown key added", EBW, lambda d: d.update(handover={"qms": ["iso-9001"]}), "handover: added (1 entry)."),
    (
        "unknown key changed",
        {**EBW, "roster": {"commander": {"amount": 15, "unit": "minutes"}}},
        lambda d: d["roster"]["commander"].update(amount=10),
        "roster commander: 15 min → 10 min.",
    ),
    ("key removed", EBW, lambda d: d.pop("rollback_triggers"), "Rollback trigger: removed (was 3 entries)."),
]


@pytest.mark.parametrize(("base", "edit", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_every_kind_of_rule_is_said_in_words(base, edit, expected):
    lines = changed(base, edit)
    assert any(line.startswith(expected) for line in lines), lines
    assert all("{" not in line for line in lines), lines  # words, not dumps


def test_nothing_changed_says_nothing():
    assert definition_diff(EBW, copy.deepcopy(EBW)) == []


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: _clock(d, "post_mortem").update(amount=0), "clocks.post_mortem.amount"),
        (lambda d: _clock(d, "post_mortem").update(unit="weeks"), "clocks.post_mortem.unit"),
        (lambda d: _clock(d, "post_mortem").update(basis="lunar"), "clocks.post_mortem.basis"),
        (lambda d: _clock(d, "post_mortem").update(anchor="whenever"), "clocks.post_mortem.anchor"),
        (lambda d: d["clocks"].append(dict(d["clocks"][0])), "clocks: kind 'triage' appears twice"),
        (lambda d: d.update(severity_scale=[]), "severity_scale"),
        (lambda d: d["bypass_levels"]["L2"].update(authorisers=[["boss"]]), "bypass_levels.L2.authorisers[0]"),
        (lambda d: d["bypass_levels"]["L1"]["remediation"].update(amount=-1), "bypass_levels.L1.remediation.amount"),
        (lambda d: d["emergency_criteria"].update(cvss_emergency_min="high"), "emergency_criteria.cvss_emergency_min"),
        (lambda d: d.update(verbal_confirmation_hours="soon"), "verbal_confirmation_hours"),
        (lambda d: d.update(ccb_required="yes"), "ccb_required"),
        (lambda d: d["stub_authorisers"].update(p1_incident=[]), "stub_authorisers.p1_incident"),
        (lambda d: d.pop("day_basis"), "day_basis"),
        (
            lambda d: d.update(compliance={"escalation": [{"level": 2, "after": "1h", "to": "qms"}]}),
            "compliance.escalation",
        ),
        (lambda d: d.update(clocks="none"), "clocks"),
    ],
)
def test_invalid_definitions_are_refused_naming_the_field(edit, field):
    bad = copy.deepcopy(EBW)
    edit(bad)
    problems = validate_definition(bad)
    assert any(p.startswith(field) for p in problems), problems


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p["code"])
def test_presets_are_valid(preset):
    assert validate_definition(preset["definition"]) == []


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d["emergency_criteria"].update(cvss_emergency_min="10.5"), "emergency_criteria.cvss_emergency_min"),
        (lambda d: d["emergency_criteria"].update(cvss_expedited_min="NaN"), "emergency_criteria.cvss_expedited_min"),
        (lambda d: d["emergency_criteria"].update(cvss_expedited_min="9.5"), "emergency_criteria.cvss_expedited_min"),
        (lambda d: d["emergency_criteria"].update(categories=[]), "emergency_criteria.categories"),
        (lambda d: d["emergency_criteria"].update(categories=["outage"]), "emergency_criteria.categories"),
        (lambda d: d["stub_authorisers"].pop("data_breach"), "stub_authorisers.data_breach"),
        (lambda d: d["stub_authorisers"].update(p1_incident=["auditor"]), "stub_authorisers.p1_incident"),
        (lambda d: d["bypass_levels"]["L2"]["authorisers"].append([]), "bypass_levels.L2.authorisers[2]"),
        (lambda d: d["bypass_levels"]["L1"].update(authorisers=[["auditor"]]), "bypass_levels.L1.authorisers[0]"),
        (
            lambda d: d.update(
                compliance={
                    "escalation": [{"level": 1, "after": "2h", "to": "owner"}, {"level": 2, "after": "1h", "to": "qms"}]
                }
            ),
            "compliance.escalation.2.after",
        ),
        (
            lambda d: d.update(compliance={"escalation": [{"level": 1, "after": "soon", "to": "owner"}]}),
            "compliance.escalation.1.after",
        ),
        (lambda d: d.update(ccb={"decision_window": {"amount": 0, "unit": "hours"}}), "ccb.decision_window.amount"),
        # A removed severity level still named, a clock the portal cannot open on a change.
        (lambda d: d["severity_scale"].pop(), "category_severity.data_breach: unknown severity 'DATA_BREACH'"),
        (lambda d: d.update(severity_classes={"P9": {}}), "severity_classes.P9: unknown severity"),
        (
            lambda d: _clock(d, "hotfix").update(by_severity={"P9": {"amount": 1, "unit": "hours"}}),
            "clocks.hotfix.by_severity.P9: unknown severity",
        ),
        (
            lambda d: d["clocks"].append({"kind": "coffee", "label": "Coffee", "amount": 1, "unit": "hours"}),
            "clocks.coffee.kind: not a clock the portal tracks",
        ),
    ],
)
def test_rules_the_form_can_break_are_refused_naming_the_field(edit, field):
    bad = copy.deepcopy(EBW)
    edit(bad)
    problems = validate_definition(bad)
    assert any(p.startswith(field) for p in problems), problems
