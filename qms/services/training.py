"""Training records that qualify signers: recording, CSV import, and the qualification questions."""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from datetime import date, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from qms import signals
from qms.limits import COMMENT_MAX, LINE_MAX, too_long_message
from qms.models import TrainingRecord, User
from qms.procedures.training import TRAINING_QMS, course_catalogue
from qms.roles import Role

CSV_COLUMNS = ("username", "course", "completed_on", "expires_on", "evidence_reference", "note")
CSV_MAX_ROWS = 2000
CSV_MAX_BYTES = 1_000_000
EVIDENCE_MAX_BYTES = 10 * 1024 * 1024
LAPSE_WINDOW_DAYS = 30


def current_definitions() -> list[dict]:
    """The definitions of the procedure versions in force (one per procedure)."""
    from qms.services.procedures import procedure_versions_in_force

    latest: dict[int, dict] = {}
    for procedure_id, definition in (
        procedure_versions_in_force().order_by("procedure_id", "version").values_list("procedure_id", "definition")
    ):
        latest[procedure_id] = definition  # the newest version in force of each procedure (any database)
    return list(latest.values()) or [{"training": TRAINING_QMS}]


def courses_current() -> dict[str, dict]:
    return course_catalogue(current_definitions())


def role_requirements_current() -> dict[str, set[str]]:
    """Per role, every course some procedure in force asks of it."""
    needs: dict[str, set[str]] = {}
    for definition in current_definitions():
        block = definition.get("training") or TRAINING_QMS
        for role, codes in block.get("role_certifications", {}).items():
            needs.setdefault(role, set()).update(codes)
    return needs


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(day)


def can_record_training(user: User) -> bool:
    return bool(user and user.is_authenticated and user.has_role(Role.QMS))


@dataclass(frozen=True)
class TrainingInput:
    user: User
    course: str
    completed_on: date
    expires_on: date | None = None
    evidence_reference: str = ""
    note: str = ""


def _clean(data: TrainingInput, *, courses: dict, actor: User, today: date) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if data.course not in courses:
        errors["course"] = [f"Unknown course {data.course!r}; the procedures in force know: {', '.join(courses)}."]
    if data.user.pk == actor.pk:
        errors["user"] = ["Another QMS coordinator records your own training: nobody certifies themselves."]
    elif not data.user.is_active:
        errors["user"] = [f"{data.user.display_name} is deactivated."]
    if data.completed_on is None:
        errors["completed_on"] = ["Give the date the course was completed."]
    elif data.completed_on > today:
        errors["completed_on"] = ["A course cannot be completed in the future."]
    elif data.expires_on is not None and data.expires_on <= data.completed_on:
        errors["expires_on"] = ["The certification must expire after it was completed."]
    for field, limit in (("evidence_reference", LINE_MAX), ("note", COMMENT_MAX)):
        value = getattr(data, field)
        if len(value) > limit:
            errors[field] = [too_long_message(limit=limit, length=len(value))]
    return errors


def _build(data: TrainingInput, *, courses: dict, actor: User, source: str, now) -> TrainingRecord:
    expires = data.expires_on or add_months(data.completed_on, courses[data.course]["validity_months"])
    return TrainingRecord(
        user=data.user,
        course=data.course,
        completed_on=data.completed_on,
        expires_on=expires,
        evidence_reference=data.evidence_reference.strip(),
        note=data.note.strip(),
        source=source,
        recorded_by=actor,
        recorded_at=now,
    )


def _check_recorder(actor: User) -> None:
    if not can_record_training(actor):
        raise PermissionDenied("Only a QMS coordinator records training.")


@transaction.atomic
def training_record_create(*, data: TrainingInput, actor: User, evidence_file=None) -> TrainingRecord:
    """Record one completed course, with evidence (a reference, a file, or both). Append-only."""
    _check_recorder(actor)
    now = timezone.now()
    courses = courses_current()
    errors = _clean(data, courses=courses, actor=actor, today=timezone.localdate(now))
    if not data.evidence_reference.strip() and evidence_file is None:
        errors["evidence_reference"] = ["Give the evidence: a certificate reference, or upload the file."]
    if evidence_file is not None and evidence_file.size > EVIDENCE_MAX_BYTES:
        errors["evidence_file"] = [f"At most {EVIDENCE_MAX_BYTES // (1024 * 1024)} MB, please."]
    if errors:
        raise ValidationError(errors)
    record = _build(data, courses=courses, actor=actor, source=TrainingRecord.Source.RECORDED, now=now)
    if evidence_file is not None:
        digest = hashlib.sha256()
        for chunk in evidence_file.chunks():
            digest.update(chunk)
        record.evidence_sha256 = digest.hexdigest()
        record.evidence_file = evidence_file
    record.full_clean()
    record.save()
    signals.training_recorded.send(sender=TrainingRecord, record=record, actor=actor)
    return record


def _parse_date(value: str, field: str, errors: list[str]) -> date | None:
    value = (value or "").strip()
    if not value and field == "expires_on":
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.append(f"{field}: {value!r} is not a date (YYYY-MM-DD).")
        return None


@transaction.atomic
def training_records_import(*, text: str, actor: User) -> list[TrainingRecord]:
    """Import a CSV (columns ``CSV_COLUMNS``; expires_on, note optional). Every row is checked first; if
    any row is bad nothing is imported and the error names each bad row."""
    _check_recorder(actor)
    if len(text.encode()) > CSV_MAX_BYTES:
        raise ValidationError({"file": [f"At most {CSV_MAX_BYTES // 1000} kB of CSV, please."]})
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [c for c in CSV_COLUMNS[:3] if c not in (reader.fieldnames or [])]
    if missing:
        raise ValidationError(
            {"file": [f"The header row needs the columns {', '.join(CSV_COLUMNS)}; missing: {', '.join(missing)}."]}
        )
    rows = list(reader)
    if not rows:
        raise ValidationError({"file": ["The file has no rows."]})
    if len(rows) > CSV_MAX_ROWS:
        raise ValidationError({"file": [f"At most {CSV_MAX_ROWS} rows per import."]})
    now = timezone.now()
    courses = courses_current()
    users = {u.username: u for u in User.objects.filter(username__in={(r.get("username") or "").strip() for r in rows})}
    problems: list[str] = []
    records: list[TrainingRecord] = []
    for number, row in enumerate(rows, start=2):
        row_errors: list[str] = []
        username = (row.get("username") or "").strip()
        user = users.get(username)
        if user is None:
            row_errors.append(f"username: no user {username!r}.")
        completed = _parse_date(row.get("completed_on"), "completed_on", row_errors)
        expires = _parse_date(row.get("expires_on"), "expires_on", row_errors)
        reference = (row.get("evidence_reference") or "").strip()
        if not reference:
            row_errors.append("evidence_reference: give the certificate reference.")
        if user is not None and completed is not None:
            data = TrainingInput(
                user=user,
                course=(row.get("course") or "").strip(),
                completed_on=completed,
                expires_on=expires,
                evidence_reference=reference,
                note=row.get("note") or "",
            )
            errors = _clean(data, courses=courses, actor=actor, today=timezone.localdate(now))
            row_errors += [f"{field}: {message}" for field, messages in errors.items() for message in messages]
            if not row_errors:
                records.append(
                    _build(data, courses=courses, actor=actor, source=TrainingRecord.Source.IMPORTED, now=now)
                )
        if row_errors:
            problems.append(f"Row {number}: " + " ".join(row_errors))
    if problems:
        raise ValidationError({"file": ["Nothing was imported.", *problems[:50]]})
    created = TrainingRecord.objects.bulk_create(records)
    for record in created:
        signals.training_recorded.send(sender=TrainingRecord, record=record, actor=actor)
    return created


# --- qualification ------------------------------------------------------------------------------------


def valid_until(user: User, courses: list[str] | set[str], *, on: date) -> dict[str, date | None]:
    """Per course, the latest expiry of a record completed by ``on`` (None: never trained). One query."""
    latest = dict(
        TrainingRecord.objects.filter(user=user, course__in=list(courses), completed_on__lte=on)
        .values("course")
        .annotate(until=Max("expires_on"))
        .values_list("course", "until")
    )
    return {course: latest.get(course) for course in courses}


def qualification_gaps(user: User, role: Role | str, rules, *, on: date | None = None) -> list[str]:
    """Why ``user`` is not qualified for ``role`` under ``rules`` (a procedure's rules): one line per
    course missing or expired; empty when qualified."""
    required = rules.required_courses(role)
    if not required:
        return []
    on = on or timezone.localdate()
    labels = rules.courses
    gaps = []
    for course, until in valid_until(user, required, on=on).items():
        label = labels.get(course, {}).get("label", course)
        if until is None:
            gaps.append(f"{label}: no training recorded")
        elif until <= on:
            gaps.append(f"{label}: expired on {until:%Y-%m-%d}")
    return gaps


def qualification_refusal(user: User, role: Role | str, rules, *, on: date | None = None) -> str | None:
    """The reason a signature in ``role`` would be refused for missing training, or None."""
    gaps = qualification_gaps(user, role, rules, on=on)
    if not gaps:
        return None
    try:
        label = Role(role).label
    except ValueError:
        label = str(role)
    return f"{user.display_name} is not certified to sign as {label}: " + "; ".join(gaps) + "."


def is_qualified_everywhere(user: User, role: Role | str, *, on: date | None = None) -> list[str]:
    """Gaps against every procedure in force (a delegate must be qualified wherever the role signs)."""
    on = on or timezone.localdate()
    needed = role_requirements_current().get(str(role), set())
    courses = courses_current()
    gaps = []
    for course, until in sorted(valid_until(user, needed, on=on).items()):
        label = courses.get(course, {}).get("label", course)
        if until is None or until <= on:
            gaps.append(f"{label}: {'no training recorded' if until is None else f'expired on {until:%Y-%m-%d}'}")
    return gaps


def lapse_horizon(on: date | None = None) -> date:
    return (on or timezone.localdate()) + timedelta(days=LAPSE_WINDOW_DAYS)
