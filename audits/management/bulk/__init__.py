"""Realistic data at scale, fast: what ``python manage.py seed_bulk --changes N`` writes.

Every emergency change gets its incident, a state reached by the transitions the lifecycle allows (with
plausible times, actors and reasons), the field-level history of each step, the procedure's clocks
(obligations, met or open as the state implies, re-anchored at resolution) with their history, the filing
notification (sent), and what hangs off it:

- its emergency bypass (``emergency``, with ``bypasses``), pending while the change is a stub and active
  once the authorisers the procedure names have signed (some by a recorded verbal approval, confirmed
  later), with the remediation clock of each bypassed gate; the gates validated retroactively after the
  deploy (all of them before closure, when the bypass becomes remediated);
- standalone level 1-3 bypass requests of quality gates, about half as many as changes, pending, active,
  rejected or withdrawn, signed by the level's authorisers, with their review and remediation clocks
  (``standalone``);
- for CM-WF-EMERGENCY changes (``ccb`` plans it, ``sessions`` writes it): Gate 1 recorded by signature,
  the emergency CCB session of Gate 2 (fast-track; its "use standard process" is how those changes left
  the emergency path) and, in post-incident, of Gate 4, with members, signed votes (some superseded), the
  signed decision and the session's clocks; the sessions of changes still on their way are open, with
  their votes so far;
- for changes in post-incident documentation or closed (``postincident``): the documentation, the
  post-mortem (draft, in review or approved by signature), its timeline and action items with their clocks;
- and a valid hash-chained audit trail of it all, appended to whatever chain is already there.

Rows are generated in memory a batch at a time and written with binary COPY (``bulk_create`` on SQLite),
history rows straight into the historical tables, so memory stays flat and 10^5 changes take minutes. On
PostgreSQL two threads, each with its own connection and one transaction per batch, write a batch's records
and its audit events while the next batch is built. Primary keys are drawn from the sequences ahead, so a
row can name another before either is written (the foreign keys are checked at commit).

The services are not called: they would take hours, and this is generated history, not live records being
edited. What the services and receivers would have written is mirrored here; keep the two in step when the
lifecycle changes (``tests/test_seed_bulk.py`` checks the result).

Not written: notifications other than the filing one, status updates (and their cadence clocks) and
regulatory notifications, patch packages, preventive measures and their follow-up changes, the deployment
checklist ticks. Overdue clocks are left un-escalated (escalation level 0), as after an import or a stopped
beat: the escalation sweep benchmark then measures a full backlog, the worst case.

It lives in ``audits``, the app at the top of the one-way dependencies (audits -> emergencies -> qms),
because it writes rows of all three; the benchmark (``bench/``) imports it from here. ``plans`` decides each
change (``world`` holds what every batch needs), ``batch`` builds and writes a batch with what the
receivers write, ``changes`` writes the change itself, and ``seed`` runs it all.
"""

from __future__ import annotations

from audits.management.bulk.plans import PATHS, STATES
from audits.management.bulk.seed import seed_bulk
from audits.management.bulk.world import SeedReport

__all__ = ["PATHS", "STATES", "SeedReport", "seed_bulk"]
