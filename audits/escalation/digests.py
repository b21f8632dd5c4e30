"""The messages of an escalation batch: one digest per recipient of every clock the batch escalated to them
(most overdue first, a link to the rest), rendered by the worker at delivery (``_Digests``)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC
from operator import itemgetter

from django.urls import reverse

from audits.escalation.directory import _Directory
from qms.models import User
from qms.procedures import EscalationStep
from qms.services import QueuedMessage, absolute_url

OVERDUE_TEMPLATE = "obligation_overdue"
DIGEST_ITEMS = 25  # clocks listed in one message; the rest are a link to the overdue list


class _Digests:
    """What one batch tells each recipient: every (obligation, step) escalated to them, as one message.

    Built per audience, not per recipient: every obligation reaching a role step tells the same people, so it
    is filed once under that step; an owner step is filed under its owner (or owning role). A recipient's
    message is the union of their audiences' lists. Its dedupe key names its most overdue (obligation, step)
    pair and the recipient: a pair is escalated in exactly one batch, so a batch written twice is queued once.
    """

    def __init__(self, directory: _Directory):
        self.directory = directory
        self.lists: dict[tuple, list[tuple]] = {}  # audience -> (due_at, obligation pk, step, item)
        self.names: dict[tuple, set[str]] = {}  # audience -> usernames told (active or not: the audit says)
        self.audiences: dict[int, list[tuple]] = defaultdict(list)  # recipient pk -> audiences
        self.users: dict[int, User] = {}
        self.steps: dict[int, EscalationStep] = {}

    def _people(self, audience: tuple, step: EscalationStep) -> list[User]:
        kind, who = audience
        if kind == "owner":
            owner = self.directory.by_pk.get(who)
            return [owner] if owner is not None and owner.is_active else []
        if kind == "role":
            return self.directory.holders([who]) if who else []
        return self.directory.holders(step.roles, step.fallback_roles)

    def add(self, step: EscalationStep, row: dict, target: EscalationStep) -> set[str]:
        """File one (obligation, step) of an obligation escalated to ``target``; return the usernames it tells."""
        if step.to == "owner":
            audience = ("owner", row["owner_id"]) if row["owner_id"] else ("role", row["owner_role"])
        else:
            audience = ("step", step.level)
        entries = self.lists.get(audience)
        if entries is None:
            entries = self.lists[audience] = []
            people = self._people(audience, step)
            self.names[audience] = {u.username for u in people}
            for user in people:
                if user.email:
                    self.users[user.pk] = user
                    self.audiences[user.pk].append(audience)
        self.steps.setdefault(step.level, step)
        entries.append((row["due_at"], row["pk"], step, row, target))
        return self.names[audience]

    def _item(self, entry: tuple) -> dict:
        due_at, pk, step, row, target = entry
        return {
            "obligation": pk,
            "label": row["label"],
            "subject_label": row["subject_label"],
            "url": absolute_url(row["subject_url"]),
            "owner_label": self.directory.owner_label(row),
            "due": f"{due_at.astimezone(UTC):%Y-%m-%d %H:%M}",
            "level": step.level,
            "step_label": step.label,
            "after_label": step.after_label,
            "escalated": step.level > 1,
            "now_with": target.label if target.level > 1 else "",  # where the clock stands, for its owner
        }

    def _content(self, audiences: tuple) -> tuple[tuple, dict]:
        """The (most overdue clock, step) and the message context for the people told through ``audiences``."""
        entries = [e for audience in audiences for e in self.lists[audience]]
        if len(audiences) > 1:  # one clock told twice (an owner who is also the lead): keep the higher step
            best: dict[int, tuple] = {}
            for entry in entries:
                held = best.get(entry[1])
                if held is None or held[2].level < entry[2].level:
                    best[entry[1]] = entry
            entries = list(best.values())
        entries.sort(key=itemgetter(0, 1))
        counts: dict[int, int] = defaultdict(int)
        for entry in entries:
            counts[entry[2].level] += 1
        shown = [self._item(e) for e in entries[:DIGEST_ITEMS]]
        return (entries[0][1], entries[0][2].level), {
            "total": len(entries),
            "items": shown,
            "more": max(0, len(entries) - DIGEST_ITEMS),
            "top": max(shown, key=lambda i: i["level"]),
            "by_step": [
                {"level": level, "label": step.label, "after_label": step.after_label, "count": counts[level]}
                for level, step in sorted(self.steps.items(), reverse=True)
                if level in counts
            ],
        }

    def messages(self) -> list[QueuedMessage]:
        overdue_url = absolute_url(reverse("audits:overdue-list"))
        groups: dict[tuple, list[int]] = defaultdict(list)  # people told through the same audiences share a text
        for pk, audiences in self.audiences.items():
            groups[tuple(audiences)].append(pk)
        out = []
        for audiences, pks in groups.items():
            (first, level), context = self._content(audiences)
            context["overdue_url"] = overdue_url
            link = context["items"][0]["url"] if context["total"] == 1 else overdue_url
            out += [
                QueuedMessage(
                    recipient=self.users[pk],
                    dedupe_key=f"obligation-overdue:{first}:{level}:{pk}",
                    template=OVERDUE_TEMPLATE,
                    context=context,
                    link=link,
                )
                for pk in pks
            ]
        return out
