"""Post-incident records for the bulk seed (see ``audits.management.bulk``): the full documentation's timing, the
post-mortem with its timeline and action items (and their clocks), approved by signature. Mirrors
emergencies.services.postincident and audits.receivers (on_action_item, on_post_mortem_transition,
on_milestone)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import TYPE_CHECKING

from audits.management.bulk.core import US, Sig, between, field_names, weighted
from emergencies.models import ActionItem, PostMortem, TimelineEntry
from qms.roles import Role

if TYPE_CHECKING:
    from audits.management.bulk.batch import Batch
    from audits.management.bulk.plans import Plan
    from audits.management.bulk.world import World

SIGNABLE = field_names(PostMortem, without=("id", "status", "submitted_at", "approved_at"))
RESOLUTION = "Fixed and verified in production."  # changes.DOCUMENTATION["resolution"]
# How far a post-mortem still open in post-incident documentation has got.
OPEN_STAGES = {"none": 20, "draft": 40, "in_review": 20, "approved": 20}
ITEM_COUNTS = {1: 25, 2: 35, 3: 25, 4: 15}
WHYS = {
    "p1_incident": (
        "{system} returned 500 for every request",
        "The new release could not reach its database",
        "A connection-pool setting was renamed in the release",
        "The configuration change was not covered by the canary",
        "Canary checks do not exercise configuration changes",
    ),
    "critical_security": (
        "{system} accepted forged tokens",
        "Token signatures were not verified for one key type",
        "The library default changed in a minor upgrade",
        "Dependency upgrades are merged without reading the changelog",
        "No security review is required for dependency upgrades",
    ),
    "data_breach": (
        "Customer records were readable through {system}",
        "The storage bucket lost its access policy",
        "An infrastructure refactor recreated the bucket",
        "The policy was not part of the infrastructure code",
        "Access policies are reviewed by hand, not enforced by code",
    ),
}
ACTIONS = {
    "p1_incident": (
        "Add a canary check that exercises configuration changes",
        "Alert on connection-pool exhaustion for {system}",
        "Document the rollback procedure for {system}",
        "Add a runbook entry for database connectivity failures",
    ),
    "critical_security": (
        "Pin the token library and review its changelog on upgrade",
        "Add a negative test for forged tokens to {system}",
        "Rotate the signing keys of {system}",
        "Require a security review for dependency upgrades",
    ),
    "data_breach": (
        "Move the bucket access policy into infrastructure code",
        "Alert on public access to storage buckets",
        "Notify affected customers and record the notifications",
        "Review access policies of every bucket holding customer data",
    ),
}
FACTORS = {
    "p1_incident": "Release on a Friday evening\nCanary traffic too low to notice",
    "critical_security": "Minor upgrade merged without review\nNo negative tests for authentication",
    "data_breach": "Manual access policies\nNo alert on public buckets",
}
# Who approves a post-mortem besides its author (emergencies.services.postincident.POST_MORTEM_APPROVER_ROLES).
APPROVERS = (Role.ENGMANAGER, Role.QMS, Role.QUALITY)


@dataclass(slots=True)
class ItemPlan:
    number: int
    action: str
    owner: object
    added_at: datetime
    due_date: date
    progress_at: datetime | None = None
    done_at: datetime | None = None
    pk: int = 0

    @property
    def status(self) -> str:
        if self.done_at:
            return ActionItem.Status.DONE.value
        return ActionItem.Status.IN_PROGRESS.value if self.progress_at else ActionItem.Status.PENDING.value


@dataclass
class PostMortemPlan:
    author: object
    started: datetime
    edited: datetime | None = None
    submitted: datetime | None = None
    approval: Sig | None = None
    items: list[ItemPlan] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.approval:
            return PostMortem.Status.APPROVED.value
        return PostMortem.Status.IN_REVIEW.value if self.submitted else PostMortem.Status.DRAFT.value


def plan_post_incident(world: World, plan: Plan) -> None:
    """After resolution: when the documentation was completed and how far the post-mortem got (all the way,
    approved, before closure)."""
    rng, resolve, close = world.rng, plan.step("resolve"), plan.step("close")
    if resolve is None:
        return
    if close:
        start, end, stage = resolve.at, close.at, "approved"
        plan.doc_at = between(rng, start, end, 0.28, 0.32)
    else:
        start = resolve.at
        end = min(world.now, resolve.at + timedelta(days=rng.uniform(0.5, 12)))
        stage = weighted(rng, OPEN_STAGES)
        plan.doc_at = between(rng, start, end, 0.4, 0.6) if rng.random() < 0.3 else None
    if plan.doc_at:
        plan.milestones["documentation_complete"] = (plan.doc_at, plan.author)
    if stage == "none":
        return
    author = plan.commander or plan.author
    pm = PostMortemPlan(author, between(rng, start, end, 0.06, 0.1))
    if stage != "draft" or rng.random() < 0.7:
        pm.edited = between(rng, start, end, 0.18, 0.22)
    if stage in ("in_review", "approved"):
        pm.submitted = between(rng, start, end, 0.38, 0.42)
    if stage == "approved":
        role = Role.COMMANDER if plan.commander and author != plan.commander else rng.choice(APPROVERS)
        approver = plan.commander if role is Role.COMMANDER else world.pick(role, not_user=author)
        at = between(rng, start, end, 0.48, 0.52)
        pm.approval = Sig(approver, role, at - 2 * US, comment="Reviewed in the post-mortem meeting.")
        plan.milestones["post_mortem_approved"] = (at, approver)
    # Action items are added while the post-mortem is open; their owners close them, some late, some never.
    added_until = pm.submitted or end
    owners = [plan.author, plan.commander or world.pick(Role.COMMANDER), world.pick(Role.LEAD), world.pick(Role.ONCALL)]
    if plan.flags["security_involved"]:
        owners.append(world.pick(Role.SECURITY))
    done_share = 0.8 if close else 0.35
    times = sorted(between(rng, pm.started, added_until, 0.1, 0.9) for _ in range(int(weighted(rng, ITEM_COUNTS))))
    actions = rng.sample(ACTIONS[plan.category], len(times))
    for number, (added, action) in enumerate(zip(times, actions, strict=True), start=1):
        item = ItemPlan(
            number,
            action.format(system=plan.system),
            rng.choice(owners),
            added,
            added.astimezone(UTC).date() + timedelta(days=rng.randint(7, 30)),
        )
        roll = rng.random()
        due = datetime.combine(item.due_date, dtime(23, 59), tzinfo=UTC)
        if roll < done_share:
            done = added + (due - added) * rng.uniform(0.2, 1.3)
            item.done_at = done if done < world.now else None
        if (item.done_at and rng.random() < 0.5) or (not item.done_at and roll < done_share + 0.15):
            progress = added + ((item.done_at or world.now) - added) * rng.uniform(0.1, 0.4)
            item.progress_at = progress if progress < world.now else None
        pm.items.append(item)
    plan.post_mortem = pm


def write_post_incident(batch: Batch) -> None:
    for plan in batch.plans:
        if plan.post_mortem is not None:
            _post_mortem(batch, plan, plan.post_mortem)


def _post_mortem(batch: Batch, plan: Plan, pm: PostMortemPlan) -> None:
    """post_mortem_start, post_mortem_update, action_item_add / action_item_set_status, post_mortem_submit and
    post_mortem_approve, each with what it writes."""
    world, rng = batch.world, batch.world.rng
    resolve, deploy, authorise = plan.step("resolve"), plan.step("deploy"), plan.step("authorize_bypass")
    pk = batch.ids.next(PostMortem)
    subject = world.subject(PostMortem, pk, f"Post-mortem {plan.identifier}", plan.identifier)
    detected = plan.detected  # post_mortem_start: the incident's detection (or declaration) to resolution
    row = {
        "id": pk,
        "change_id": plan.change_id,
        "status": PostMortem.Status.DRAFT.value,
        "author_id": pm.author.pk,
        "post_mortem_date": pm.started.astimezone(UTC).date(),
        "incident_start": detected,
        "incident_end": resolve.at,
        "users_affected": None,
        "duration_hours": None,
        "revenue_impact": "",
        "reputational_impact": "",
        "why_1": "",
        "why_2": "",
        "why_3": "",
        "why_4": "",
        "why_5": "",
        "contributing_factors": "",
        "resolution": RESOLUTION if plan.doc_at and plan.doc_at < pm.started else "",
        "went_well": "",
        "went_poorly": "",
        "got_lucky": "",
        "submitted_at": None,
        "approved_at": None,
    }
    batch.history(PostMortem, row, at=pm.started, kind="+", user=pm.author, reason="post-mortem started")
    for at, event in (
        (plan.declared, "Incident declared, emergency stub filed"),
        (authorise.at if authorise else None, "Bypass authorized"),
        (deploy.at if deploy else None, "Hotfix deployed"),
        (resolve.at, "Resolution confirmed"),
    ):
        if at is not None:
            entry = {"id": batch.ids.next(TimelineEntry), "post_mortem_id": pk, "at": at, "event": event}
            batch.rows[TimelineEntry].append(entry)
            batch.history(TimelineEntry, entry, at=pm.started, kind="+", user=pm.author, reason=None)
    if pm.edited:
        whys = [w.format(system=plan.system) for w in WHYS[plan.category]]
        hours = Decimal((resolve.at - detected).total_seconds() / 3600).quantize(Decimal("0.01"))
        row.update(
            users_affected=rng.randint(50, 50000),
            duration_hours=hours,
            revenue_impact=rng.choice(("Minor", "Orders lost during the outage", "None measurable")),
            reputational_impact=rng.choice(("Low", "Customer complaints on social media", "Press enquiry")),
            **{f"why_{n}": why for n, why in enumerate(whys, start=1)},
            contributing_factors=FACTORS[plan.category],
            resolution=RESOLUTION,
            went_well="Fast diagnosis and a clean rollback plan.",
            went_poorly="The alert fired late; the first responder lacked access.",
            got_lucky="It happened outside peak hours.",
        )
        batch.history(PostMortem, row, at=pm.edited, kind="~", user=pm.author, reason="post-mortem edited")
    for item in pm.items:
        _action_item(batch, plan, pk, item, added_by=pm.author)
    if pm.submitted:
        row.update(status=PostMortem.Status.IN_REVIEW.value, submitted_at=pm.submitted)
        batch.history(PostMortem, row, at=pm.submitted, kind="~", user=pm.author, reason="submitted for review")
        _transition(batch, plan, "submit", at=pm.submitted, actor=pm.author, source="draft", target="in_review")
    if pm.approval:
        sig = pm.approval
        at = plan.milestones["post_mortem_approved"][0]
        batch.sign(subject, sig, {k: row[k] for k in SIGNABLE})
        _transition(batch, plan, "approve", at=at - US, actor=sig.signer, source="in_review", target="approved")
        row.update(status=PostMortem.Status.APPROVED.value, approved_at=at)
        batch.history(PostMortem, row, at=at, kind="~", user=sig.signer, reason="approved by signature")
        batch.milestone(plan, "post_mortem_approved", at=at, actor=sig.signer)
    batch.rows[PostMortem].append(row)


def _transition(batch: Batch, plan: Plan, name: str, *, at, actor, source: str, target: str) -> None:
    """audits.receivers.on_post_mortem_transition: recorded on the change."""
    batch.event(
        at,
        action=f"post_mortem.{name}",
        actor=actor,
        subject=plan.subject,
        before={"status": source},
        after={"status": target},
    )


def _action_item(batch: Batch, plan: Plan, post_mortem_id: int, item: ItemPlan, *, added_by) -> None:
    """action_item_add and action_item_set_status; audits.receivers.on_action_item opens its clock on the
    change and meets it when the item is done."""
    item.pk = batch.ids.next(ActionItem)
    row = {
        "id": item.pk,
        "post_mortem_id": post_mortem_id,
        "number": item.number,
        "action": item.action,
        "owner_id": item.owner.pk,
        "due_date": item.due_date,
        "status": ActionItem.Status.PENDING.value,
    }
    batch.history(ActionItem, row, at=item.added_at, kind="+", user=added_by, reason="action item added")
    (clock,) = batch.open_clocks(
        plan.subject,
        [
            {
                "kind": "action_item",
                "key": str(item.pk),
                "label": f"Action {item.number}: {item.action}"[:200],
                "owner": item.owner,
                "due_at": datetime.combine(item.due_date, dtime(23, 59), tzinfo=UTC),
            }
        ],
        at=item.added_at + US,
        actor=added_by,
    )
    for at, status in ((item.progress_at, ActionItem.Status.IN_PROGRESS), (item.done_at, ActionItem.Status.DONE)):
        if at is None:
            continue
        row = {**row, "status": status.value}
        batch.history(ActionItem, row, at=at, kind="~", user=item.owner, reason=f"status {status.value}")
        if status == ActionItem.Status.DONE:
            batch.satisfy(clock, at=at + US, actor=item.owner, note="action done", subject=plan.subject)
    batch.rows[ActionItem].append(row)
