from django.urls import path

from audits import views
from emergencies.urls import RecordIdConverter  # noqa: F401  (registers the converter)

app_name = "audits"
urlpatterns = [
    path("events/", views.event_list, name="event-list"),
    path("verify/", views.chain_verify, name="chain-verify"),
    path("overdue/", views.overdue_list, name="overdue-list"),
    path("export/", views.export, name="export"),
    path("changes/<recordid:identifier>/", views.change_trail, name="change-trail"),
]
