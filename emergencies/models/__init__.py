from emergencies.models.bypass import BypassRequest
from emergencies.models.change import (
    CVSS_VALIDATORS,
    INCIDENT_TICKET_VALIDATOR,
    ChangeRecord,
    Incident,
)

__all__ = ["CVSS_VALIDATORS", "INCIDENT_TICKET_VALIDATOR", "BypassRequest", "ChangeRecord", "Incident"]
