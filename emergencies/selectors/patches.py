"""Every read the patch package pages need, with their queries fixed in advance.

The package page costs the same number of queries with one unit or a thousand: packages, artifacts,
units (with their installed artifact), the units' events (with their actor), follow-up documents and
the package's signatures are one query each.

What blocks a package's approval and a change's closure is computed here from data already loaded, so the
page and the services' checks (``emergencies.services.patches``) share one reading of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Prefetch

from emergencies.models import ChangeRecord
from emergencies.models.patches import (
    FOLLOW_UP_DAYS,
    FOLLOW_UP_ITEMS,
    FollowUpDocument,
    PatchArtifact,
    PatchPackage,
    UnitDistribution,
    UnitEvent,
    patch_package_required,
)
from qms.clock import deadline
from qms.models import Signature
from qms.services import signatures_for

InstallStatus = UnitDistribution.InstallStatus


def current_package(packages) -> PatchPackage | None:
    """The package that counts: the newest version that is not withdrawn."""
    live = [p for p in packages if p.status != PatchPackage.Status.WITHDRAWN]
    return max(live, key=lambda p: p.version) if live else None


def patch_packages_for_change(*, change: ChangeRecord) -> list[PatchPackage]:
    return list(
        PatchPackage.objects.filter(change=change)
        .select_related("author", "approved_by", "approval_signature", "configuration_audited_by")
        .order_by("-version")
    )


def patch_units(*, package: PatchPackage, with_events: bool = True) -> list[UnitDistribution]:
    qs = package.units.select_related("installed_artifact").order_by("serial_number")
    if with_events:
        events = UnitEvent.objects.select_related("actor").order_by("occurred_at", "pk")
        qs = qs.prefetch_related(Prefetch("events", queryset=events, to_attr="event_list"))
    units = list(qs)
    for unit in units:
        unit.package = package  # the package is already loaded; the unit's methods use it without a query
        unit.last_event = unit.event_list[-1] if with_events and unit.event_list else None
    return units


def patch_closure_data(
    *, change: ChangeRecord
) -> tuple[PatchPackage | None, list[UnitDistribution], list[FollowUpDocument]]:
    package = current_package(PatchPackage.objects.filter(change=change))
    units = patch_units(package=package, with_events=False) if package is not None else []
    return package, units, list(FollowUpDocument.objects.filter(change=change))


# --- what blocks approval and closure ------------------------------------------------------------------


def patch_approval_problems(package: PatchPackage, artifacts: list[PatchArtifact]) -> list[str]:
    """What must be done before the package can be approved."""
    problems = []
    if not any(a.kind == PatchArtifact.Kind.PATCH for a in artifacts):
        problems.append("Add the patch file(s) with their SHA-256.")
    problems += [f"Verify the hash of {a.filename}." for a in artifacts if not a.is_verified]
    for name in PatchPackage.REQUIRED_FOR_APPROVAL:
        if not getattr(package, name).strip():
            problems.append(f"Write the {PatchPackage._meta.get_field(name).verbose_name}.")
    return problems


def affected_units(incident) -> list[tuple[str, str]]:
    """Serial numbers listed on the incident, one per line: ``SN-123 — flight computer, tail 4``."""
    units: dict[str, str] = {}
    for line in (incident.affected_systems if incident is not None else "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        serial, _, rest = line.partition(" ")
        serial = serial.strip(",;:")[:100]
        if serial and serial not in units:
            units[serial] = rest.strip().lstrip("-–—:,; ").strip()[:200]
    return list(units.items())


def closure_problems_for(
    change: ChangeRecord,
    package: PatchPackage | None,
    units: list[UnitDistribution],
    follow_ups: list[FollowUpDocument],
) -> list[str]:
    """The reasons closure is blocked, from data already loaded (the page and the check share it)."""
    if not patch_package_required(change):
        return []
    problems = []
    if package is None:
        problems.append(f"No patch package: {change.procedure_version.procedure.code.upper()} requires one (§8.2).")
    else:
        if not package.is_released:
            problems.append(
                f"Patch package {package.identifier} is not approved ({package.get_status_display().lower()})."
            )
        elif not units:
            problems.append(f"Patch package {package.identifier} has not been distributed to any unit.")
        have = {u.serial_number for u in units}
        problems += [
            f"Affected unit {serial} (listed on {change.incident.ticket}) has no distribution."
            for serial, _ in affected_units(change.incident)
            if serial not in have
        ]
        for unit in units:
            problems += _unit_problems(package, unit)
    done = {d.key for d in follow_ups}
    missing = [label for key, label in FOLLOW_UP_ITEMS if key not in done]
    if missing:
        problems.append(
            f"30-day follow-up documentation: {len(missing)} of {len(FOLLOW_UP_ITEMS)} items outstanding "
            f"({', '.join(missing)})."
        )
    return problems


def _unit_problems(package: PatchPackage, unit: UnitDistribution) -> list[str]:
    sn = unit.serial_number
    if not package.is_released:
        return []
    if unit.sent_at is None:
        return [f"Unit {sn}: package not sent."]
    problems = []
    if unit.acknowledged_at is None:
        problems.append(f"Unit {sn}: receipt not acknowledged.")
    if unit.install_status != InstallStatus.INSTALLED:
        problems.append(f"Unit {sn}: {unit.get_install_status_display().lower()}, not installed.")
    if unit.reported_hash:
        expected = unit.expected_hash(package)
        if unit.reported_hash != expected:
            problems.append(
                f"Configuration audit: unit {sn} reports {unit.reported_hash}, approved {expected or 'unknown'}"
            )
    elif unit.install_status == InstallStatus.INSTALLED:
        problems.append(f"Unit {sn}: no deployed hash reported.")
    if unit.install_status == InstallStatus.INSTALLED and not unit.post_install_verified:
        problems.append(
            f"Unit {sn}: post-install verification " + ("failed." if unit.verified_at is not None else "not recorded.")
        )
    return problems


def follow_up_due(change: ChangeRecord) -> datetime | None:
    if change.deployed_at is None:
        return None
    return deadline(change.deployed_at, amount=FOLLOW_UP_DAYS, unit="days", basis="calendar")


# --- the package page ---------------------------------------------------------------------------------


@dataclass
class FollowUpRow:
    key: str
    label: str
    document: FollowUpDocument | None


@dataclass
class PatchPage:
    change: ChangeRecord
    packages: list[PatchPackage]
    package: PatchPackage | None
    current: PatchPackage | None
    artifacts: list[PatchArtifact] = field(default_factory=list)
    units: list[UnitDistribution] = field(default_factory=list)
    signatures: list[Signature] = field(default_factory=list)
    follow_ups: list[FollowUpRow] = field(default_factory=list)
    follow_up_due: datetime | None = None
    closure_problems: list[str] = field(default_factory=list)
    approval_problems: list[str] = field(default_factory=list)
    missing_units: list[tuple[str, str]] = field(default_factory=list)

    @property
    def is_current(self) -> bool:
        return self.package is not None and self.current is not None and self.package.pk == self.current.pk

    @property
    def follow_ups_done(self) -> int:
        return sum(1 for row in self.follow_ups if row.document is not None)


def patch_page_get(*, change: ChangeRecord, version: int | None = None) -> PatchPage:
    """The package page of a change: the current package (or the version asked for) and everything on it."""
    packages = patch_packages_for_change(change=change)
    for p in packages:
        p.change = change  # their links name the change; it is loaded already
    current = current_package(packages)
    if version is None:
        package = current or (packages[0] if packages else None)
    else:
        package = next((p for p in packages if p.version == version), None)
    documents = {d.key: d for d in FollowUpDocument.objects.filter(change=change).select_related("completed_by")}
    page = PatchPage(
        change=change,
        packages=packages,
        package=package,
        current=current,
        follow_ups=[FollowUpRow(key, label, documents.get(key)) for key, label in FOLLOW_UP_ITEMS],
        follow_up_due=follow_up_due(change),
    )
    if package is not None:
        page.artifacts = list(package.artifacts.select_related("added_by", "verified_by").order_by("kind", "filename"))
        page.units = patch_units(package=package)
        page.signatures = signatures_for(package)
        page.approval_problems = patch_approval_problems(package, page.artifacts) if package.is_draft else []
        have = {u.serial_number for u in page.units}
        page.missing_units = [(s, d) for s, d in affected_units(change.incident) if s not in have]
    current_units = page.units if page.is_current else []
    if current is not None and not page.is_current:
        current_units = patch_units(package=current, with_events=False)
    page.closure_problems = closure_problems_for(change, current, current_units, list(documents.values()))
    return page
