"""The routes of oversight's API (compliance reports, obligations), mounted under ``api/v1/`` by the project's
URLconf."""

from django.urls import path

from audits import api as audits_api

urlpatterns = [
    path("reports/", audits_api.Reports.as_view(), name="api-report-list"),
    path("reports/<int:pk>/", audits_api.ReportDetail.as_view(), name="api-report-detail"),
    path(
        "obligations/<int:obligation_id>/preventive-change/",
        audits_api.ObligationPreventiveChange.as_view(),
        name="api-obligation-preventive-change",
    ),
    path(
        "obligations/<int:obligation_id>/evidence/",
        audits_api.ObligationEvidence.as_view(),
        name="api-obligation-evidence",
    ),
]
