from django.urls import path

from emergencies import api
from emergencies import api as api_ccb
from emergencies.urls import RecordIdConverter  # noqa: F401  (registers the converter)

urlpatterns = [
    path("emergencies/", api.EmergencyListCreate.as_view(), name="api-emergency-list"),
    path("emergencies/<recordid:identifier>/", api.EmergencyDetail.as_view(), name="api-emergency-detail"),
    path("bypasses/", api.BypassListCreate.as_view(), name="api-bypass-list"),
    path("bypasses/<recordid:identifier>/", api.BypassDetail.as_view(), name="api-bypass-detail"),
    path("bypasses/<recordid:identifier>/sign/", api.BypassSign.as_view(), name="api-bypass-sign"),
    path("bypasses/<recordid:identifier>/reject/", api.BypassReject.as_view(), name="api-bypass-reject"),
    path("ccb/sessions/", api_ccb.CCBSessionList.as_view(), name="api-ccb-session-list"),
    path("ccb/sessions/<int:pk>/", api_ccb.CCBSessionDetail.as_view(), name="api-ccb-session-detail"),
    path("ccb/sessions/<int:pk>/vote/", api_ccb.CCBVote.as_view(), name="api-ccb-vote"),
]
