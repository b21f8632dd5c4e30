from django.urls import path

from emergencies import api
from emergencies.urls import RecordIdConverter  # noqa: F401  (registers the converter)

urlpatterns = [
    path("emergencies/", api.EmergencyListCreate.as_view(), name="api-emergency-list"),
    path("emergencies/<recordid:identifier>/", api.EmergencyDetail.as_view(), name="api-emergency-detail"),
]
