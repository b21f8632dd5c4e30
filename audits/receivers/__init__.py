"""Oversight's receivers: each module turns one part of the lifecycle's signals into audit events and obligations.

Importing the package connects them all (``AuditsConfig.ready``)."""

import audits.receivers.bypasses
import audits.receivers.ccb
import audits.receivers.github
import audits.receivers.lifecycle
import audits.receivers.patches
import audits.receivers.postincident
import audits.receivers.procedures
import audits.receivers.roster
import audits.receivers.security
import audits.receivers.sso
import audits.receivers.training  # noqa: F401
