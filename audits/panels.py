from audits import selectors


def clocks_panel(request, subject) -> dict:
    from audits.services import can_record_evidence
    from emergencies.services.followups import can_open_preventive_change

    obligations = selectors.obligations_for_subject(subject=subject)
    for obligation in obligations:
        obligation.can_record_evidence = obligation.is_open and can_record_evidence(request.user, obligation)
    return {"obligations": obligations, "can_meet_preventive": can_open_preventive_change(request.user)}


def audit_trail_panel(request, subject) -> dict:
    return {"events": selectors.audit_events_for_subject(subject=subject, limit=20), "subject": subject}


def overdue_widget(request) -> dict:
    return {
        "obligations": list(selectors.obligations_overdue(user=request.user)[:20]),
        "oversight": selectors.can_oversee(request.user),
    }
