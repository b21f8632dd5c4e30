"""The people using the portal, and the time zones they may pick."""

from __future__ import annotations

import zoneinfo
from functools import cached_property

from django.contrib.auth.models import AbstractUser
from django.core.validators import RegexValidator
from django.db import models
from simple_history.models import HistoricalRecords

from qms.roles import GROUP_TO_ROLE, Role

TIME_ZONE_CHOICES = [(name, name) for name in sorted(zoneinfo.available_timezones()) if "/" in name or name == "UTC"]


class User(AbstractUser):
    """A person using the portal. Users are deactivated, never deleted (their signatures stay theirs)."""

    time_zone = models.CharField(max_length=64, default="UTC", choices=TIME_ZONE_CHOICES)
    # Where this person's notifications go (preferences): email, and/or a Slack direct message.
    notify_by_email = models.BooleanField("by email", default=True)
    notify_by_slack = models.BooleanField("by Slack direct message", default=False)
    slack_user_id = models.CharField(
        "Slack member id", max_length=32, blank=True, validators=[RegexValidator(r"^[UW][A-Z0-9]{2,30}$")]
    )
    history = HistoricalRecords(excluded_fields=["password", "last_login"])

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username

    @cached_property
    def roles(self) -> frozenset[Role]:
        # Uses prefetched groups when the selector prefetched them.
        return frozenset(GROUP_TO_ROLE[g.name] for g in self.groups.all() if g.name in GROUP_TO_ROLE)

    def has_role(self, *roles: Role) -> bool:
        return self.is_active and bool(self.roles.intersection(roles))
