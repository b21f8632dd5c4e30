from django.urls import path

from audits import views
from audits.reports import views as reports
from emergencies.urls import RecordIdConverter  # noqa: F401  (registers the converter)

app_name = "audits"
urlpatterns = [
    path("events/", views.event_list, name="event-list"),
    path("verify/", views.chain_verify, name="chain-verify"),
    path("overdue/", views.overdue_list, name="overdue-list"),
    path("export/", views.export, name="export"),
    path("changes/<recordid:identifier>/", views.change_trail, name="change-trail"),
    path(
        "obligations/<int:obligation_id>/preventive-change/",
        views.obligation_preventive_change,
        name="obligation-preventive-change",
    ),
    path("obligations/<int:obligation_id>/evidence/", views.obligation_evidence, name="obligation-evidence"),
    path("reports/", reports.report_list, name="report-list"),
    path("reports/<int:pk>/", reports.report_detail, name="report-detail"),
    path("reports/<int:pk>/drill/<path:ref>/", reports.report_drill, name="report-drill"),
    path("reports/<int:pk>.csv", reports.report_csv, name="report-csv"),
    path("reports/<int:pk>.pdf", reports.report_pdf, name="report-pdf"),
]
