"""Critical escalations are counted in SQL: the totals cover every clock, the snapshot keeps the first ids."""

from __future__ import annotations

import pytest

from audits.reports.metrics import obligations
from audits.reports.services import compliance_report_build
from tests.audits.reports.test_reports import NOW, figures, october, people, utc  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def test_critical_escalations_count_beyond_the_ids_kept(october, monkeypatch):  # noqa: F811
    on_30th = compliance_report_build(kind="daily", period_start=utc(2026, 10, 30), now=NOW)
    every = on_30th["refs"]["critical"]["ids"]
    assert len(every) == 3

    monkeypatch.setattr(obligations, "MAX_IDS", 2)
    kept = compliance_report_build(kind="daily", period_start=utc(2026, 10, 30), now=NOW)
    f = figures(kept)
    # All three reached the QMS coordinator or above on 10-30, two of them the executive; two ids are kept,
    # the first two in the figure's order (level, then due time), and the reference says there were three.
    assert f["critical"]["value"] == 3 and f["critical_executive"]["value"] == 2
    assert kept["refs"]["critical"]["ids"] == every[:2]
    assert kept["refs"]["critical"]["total"] == 3


def test_no_critical_escalation_is_zero(october):  # noqa: F811
    f = figures(compliance_report_build(kind="daily", period_start=utc(2026, 10, 20), now=NOW))
    assert f["critical"]["value"] == 0 and f["critical_executive"]["value"] == 0
