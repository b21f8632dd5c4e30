"""Domain events of the patch package (CM-WF-EMERGENCY §8.2-§11.2). Oversight (audits.patch_receivers)
listens; the lifecycle never imports it. Sent inside the writing transaction. Package transitions
(approve, distribute, withdraw) are announced by django-fsm's ``post_transition``."""

from django.dispatch import Signal

# package, actor
patch_package_created = Signal()
# package, actor, fields
patch_package_updated = Signal()
# artifact (None when refused before it existed), package, actor,
# action ("added", "verified", "removed", "verification_failed"), detail
patch_artifact_changed = Signal()
# unit, package, actor, action ("added" or a UnitEvent kind), event (UnitEvent or None)
patch_unit_changed = Signal()
# package, actor, rows, ok
patch_configuration_audited = Signal()
# change, document (FollowUpDocument), actor, all_done
patch_follow_up_completed = Signal()
