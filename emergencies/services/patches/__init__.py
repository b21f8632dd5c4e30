"""The emergency patch package (CM-WF-EMERGENCY §8.2, §9.2, §10, §11.2): every write, and what blocks closure.

Each write is one transaction with an explicit actor; it locks the package first (then the unit), checks
every guard, saves with a history user and reason, and announces itself by a signal that oversight
(``audits.receivers.patches``) turns into audit events and obligations.

Hashes (§15, "Hash verification" is never waived):

* an uploaded file's SHA-256 is computed by the portal while it streams the upload: verified at once;
* a hash entered by hand (the file is kept elsewhere) stays unverified until the file is uploaded and its
  computed hash matches, or a second person re-enters the hash from their own source and it matches.
  A failed verification is recorded in the audit trail even though the attempt is refused;
* a package is approved only when every artifact's hash is verified; the approval signature covers the
  artifacts and freezes their hashes in ``approved_hashes``; nothing about an approved package changes;
* a unit whose reported (deployed) hash differs from the approved one blocks the change's closure.

Its modules: ``packages`` (who may build and approve a package, its versions, its approval), ``artifacts``
(its files and their hashes), ``units`` (distribution and each unit's events) and ``closure`` (the
configuration audit, the §11.2 follow-up documents, the closure hook). What blocks approval and closure is
read from loaded data by ``emergencies.selectors.patches``, which the page shares; it is re-exported here.
"""

from emergencies.selectors.patches import (
    affected_units,
    closure_problems_for,
    follow_up_due,
    patch_approval_problems,
)
from emergencies.services.patches.artifacts import (
    patch_artifact_enter,
    patch_artifact_remove,
    patch_artifact_upload,
    patch_artifact_verify_entry,
    patch_artifact_verify_upload,
    sha256_of,
)
from emergencies.services.patches.closure import (
    FOLLOW_UP_MILESTONE,
    configuration_audit_rows,
    follow_up_document_complete,
    patch_closure_problems,
    patch_configuration_audit,
)
from emergencies.services.patches.packages import (
    APPROVER_ROLES,
    can_approve_patch,
    can_edit_patch,
    patch_package_approve,
    patch_package_create,
    patch_package_update,
    patch_package_withdraw,
)
from emergencies.services.patches.units import (
    CLOCK_SKEW,
    UNIT_EVENT_KINDS,
    unit_acknowledgement_record,
    unit_distribution_add,
    unit_distributions_from_incident,
    unit_event_record,
    unit_install_record,
    unit_rollback_record,
    unit_sent_record,
    unit_verification_record,
)

__all__ = [
    "APPROVER_ROLES",
    "CLOCK_SKEW",
    "FOLLOW_UP_MILESTONE",
    "UNIT_EVENT_KINDS",
    "affected_units",
    "can_approve_patch",
    "can_edit_patch",
    "closure_problems_for",
    "configuration_audit_rows",
    "follow_up_document_complete",
    "follow_up_due",
    "patch_approval_problems",
    "patch_artifact_enter",
    "patch_artifact_remove",
    "patch_artifact_upload",
    "patch_artifact_verify_entry",
    "patch_artifact_verify_upload",
    "patch_closure_problems",
    "patch_configuration_audit",
    "patch_package_approve",
    "patch_package_create",
    "patch_package_update",
    "patch_package_withdraw",
    "sha256_of",
    "unit_acknowledgement_record",
    "unit_distribution_add",
    "unit_distributions_from_incident",
    "unit_event_record",
    "unit_install_record",
    "unit_rollback_record",
    "unit_sent_record",
    "unit_verification_record",
]
