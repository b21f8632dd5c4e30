"""Compliance reports: daily, weekly and monthly snapshots of the metrics of the procedures.

``compliance_report_build`` computes a report's figures (nothing written; the benchmark times it),
``report_generate`` stores the immutable snapshot and mails it. See ``audits.reports.services``.
"""


def compliance_report_build(**kwargs):
    from audits.reports.services import compliance_report_build as build

    return build(**kwargs)


def report_generate(**kwargs):
    from audits.reports.services import report_generate as generate

    return generate(**kwargs)
