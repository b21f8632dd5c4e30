"""Compliance reports: daily, weekly and monthly snapshots of the metrics of the procedures.

``compliance_report_build`` computes a report's figures (nothing written; the benchmark times it;
``audits.reports.build``), ``report_generate`` stores the immutable snapshot and mails it
(``audits.reports.services``); ``audits.reports.rendering`` draws a snapshot.
"""

from audits.reports.build import compliance_report_build
from audits.reports.services import report_generate

__all__ = ["compliance_report_build", "report_generate"]
