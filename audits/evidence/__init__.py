"""What the auditor's export carries beyond the records themselves (``audits.exports``).

``chain``: the segment of the audit chain the exported events sit in and the signed checkpoints that anchor
it, so the export verifies against the published key alone. ``controls``: the index per control (SOC 2
CC8.1, HIPAA 164.312(b), 21 CFR Part 11 §11.50/§11.70) pointing into the zip. ``summary``: the one-page PDF
summary of each change.
"""
