"""Alert payloads as the tools send them, copied from their documentation's examples (values kept, only
the time stamps and ids that the tests vary are parameters).

- Alertmanager: "webhook_config" in https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
  (the JSON the webhook receiver is sent, "version": "4"); label and annotation values from the example alert
  rules of https://prometheus.io/docs/prometheus/latest/configuration/alerting_rules/ ("InstanceDown").
- PagerDuty: webhooks v3, the "incident.triggered" / "incident.resolved" examples of
  https://developer.pagerduty.com/docs/webhooks/v3-overview/ (event envelope: id, event_type, resource_type,
  occurred_at, agent, client, data = the incident), signed as "Verifying Signatures" there describes:
  X-PagerDuty-Signature: v1=<hex HMAC-SHA256(secret, raw body)>.
- Opsgenie: the "Create" and "Close" payloads of the Webhook integration,
  https://support.atlassian.com/opsgenie/docs/integrate-opsgenie-with-webhook/ ("Sample payload").
"""

from __future__ import annotations

import hashlib
import hmac
import json


def alertmanager(
    *,
    status="firing",
    fingerprint="c8a9d1e5b1e3f4a2",
    starts="2026-11-30T23:05:00.000Z",
    ends="0001-01-01T00:00:00Z",
    group_key='{}:{alertname="InstanceDown"}',
    labels=None,
) -> dict:
    alert_labels = {"alertname": "InstanceDown", "instance": "checkout-1:9100", "job": "checkout", "severity": "page"}
    alert_labels.update(labels or {})
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "qms-portal",
        "groupLabels": {"alertname": "InstanceDown"},
        "commonLabels": alert_labels,
        "commonAnnotations": {
            "summary": "Instance checkout-1:9100 down",
            "description": "checkout-1:9100 of job checkout has been down for more than 5 minutes.",
        },
        "externalURL": "http://alertmanager.example.com:9093",
        "alerts": [
            {
                "status": status,
                "labels": alert_labels,
                "annotations": {
                    "summary": "Instance checkout-1:9100 down",
                    "description": "checkout-1:9100 of job checkout has been down for more than 5 minutes.",
                },
                "startsAt": starts,
                "endsAt": ends,
                "generatorURL": "http://prometheus.example.com:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
                "fingerprint": fingerprint,
            }
        ],
    }


def pagerduty(*, event_type="incident.triggered", incident_id="PGR0VU2", status="triggered", priority="P1") -> dict:
    return {
        "event": {
            "id": "01BZ4ZJHB5AS5NVKHAO2XTSVD0",
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": "2026-11-30T23:10:22.169Z",
            "agent": {
                "html_url": "https://acme.pagerduty.com/users/PLH1HKV",
                "id": "PLH1HKV",
                "self": "https://api.pagerduty.com/users/PLH1HKV",
                "summary": "Tenex Engineer",
                "type": "user_reference",
            },
            "client": None,
            "data": {
                "id": incident_id,
                "type": "incident",
                "self": f"https://api.pagerduty.com/incidents/{incident_id}",
                "html_url": f"https://acme.pagerduty.com/incidents/{incident_id}",
                "number": 2,
                "status": status,
                "incident_key": "d3640fbd41094207a1c11e58e46b1662",
                "created_at": "2026-11-30T23:09:27Z",
                "title": "A little bump in the road",
                "service": {
                    "html_url": "https://acme.pagerduty.com/services/PF9KMXH",
                    "id": "PF9KMXH",
                    "self": "https://api.pagerduty.com/services/PF9KMXH",
                    "summary": "API Service",
                    "type": "service_reference",
                },
                "assignees": [
                    {
                        "html_url": "https://acme.pagerduty.com/users/PTUXL6G",
                        "id": "PTUXL6G",
                        "self": "https://api.pagerduty.com/users/PTUXL6G",
                        "summary": "User 123",
                        "type": "user_reference",
                    }
                ],
                "escalation_policy": {
                    "html_url": "https://acme.pagerduty.com/escalation_policies/PUS0KTE",
                    "id": "PUS0KTE",
                    "self": "https://api.pagerduty.com/escalation_policies/PUS0KTE",
                    "summary": "Default",
                    "type": "escalation_policy_reference",
                },
                "teams": [
                    {
                        "html_url": "https://acme.pagerduty.com/teams/PFCVPS0",
                        "id": "PFCVPS0",
                        "self": "https://api.pagerduty.com/teams/PFCVPS0",
                        "summary": "Engineering",
                        "type": "team_reference",
                    }
                ],
                "priority": {
                    "html_url": "https://acme.pagerduty.com/account/incident_priorities",
                    "id": "PSO75BM",
                    "self": "https://api.pagerduty.com/priorities/PSO75BM",
                    "summary": priority,
                    "type": "priority_reference",
                },
                "urgency": "high",
                "conference_bridge": {"conference_number": "+1 1234123412,,987654321#", "conference_url": None},
                "resolve_reason": None,
            },
        }
    }


def pagerduty_signature(secret: str, body: bytes) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def opsgenie(*, action="Create", alias="checkout-db-latency", priority="P1") -> dict:
    return {
        "action": action,
        "alert": {
            "alertId": "8418d193-2dab-4490-b331-8c02cdd196b7-1513856789047",
            "message": "Checkout database latency above 2 s",
            "tags": ["database", "checkout"],
            "tinyId": "201",
            "entity": "checkout-db-1",
            "alias": alias,
            "createdAt": 1764637500000,
            "updatedAt": 1764637800000,
            "username": "System",
            "description": "p99 query latency has been above 2 s for 5 minutes.",
            "team": "payments",
            "responders": [{"id": "4513b7ea-3b91-438f-b7e4-e3e54af9147c", "type": "team", "name": "payments"}],
            "teams": ["4513b7ea-3b91-438f-b7e4-e3e54af9147c"],
            "actions": [],
            "details": {"service": "checkout", "region": "eu-west-1"},
            "priority": priority,
            "source": "Datadog",
        },
        "source": {"name": "", "type": "web"},
        "integrationName": "QMS portal webhook",
        "integrationId": "b32ea5c1-2c37-4e17-8cbd-5a2ba3a4c5d7",
        "integrationType": "Webhook",
    }


def body(payload: dict) -> bytes:
    return json.dumps(payload).encode()
