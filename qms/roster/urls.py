"""Routes of the on-call roster: its pages (``urlpatterns``, in the ``qms`` namespace) and its API
(``api_urlpatterns``, under /api/v1/)."""

from django.urls import path

from qms.roster import api, views

urlpatterns = [
    path("oncall/", views.roster_overview, name="oncall"),
    path("oncall/gaps/", views.coverage_gaps_view, name="oncall-gaps"),
    path("oncall/ack/<str:token>/", views.page_acknowledge_view, name="oncall-ack"),
    path("oncall/<slug:role>/", views.roster_role, name="oncall-role"),
    path("oncall/<slug:role>/rotations/", views.rotation_create_view, name="oncall-rotation"),
    path("oncall/<slug:role>/overrides/", views.override_add_view, name="oncall-override"),
    path("oncall/<slug:role>/import/", views.roster_import_view, name="oncall-import"),
]
api_urlpatterns = [
    path("oncall/", api.OnCallNow.as_view(), name="api-oncall"),
    path("oncall/pages/<int:pk>/acknowledgement/", api.PageAcknowledgement.as_view(), name="api-oncall-ack"),
    path("oncall/<slug:role>/rotations/", api.Rotations.as_view(), name="api-oncall-rotations"),
    path("oncall/<slug:role>/overrides/", api.Overrides.as_view(), name="api-oncall-overrides"),
    path("oncall/<slug:role>/imports/", api.Imports.as_view(), name="api-oncall-imports"),
]
