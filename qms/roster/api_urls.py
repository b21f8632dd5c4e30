"""API routes of the on-call roster (under /api/v1/)."""

from django.urls import path

from qms.roster import api

urlpatterns = [
    path("oncall/", api.OnCallNow.as_view(), name="api-oncall"),
    path("oncall/pages/<int:pk>/acknowledgement/", api.PageAcknowledgement.as_view(), name="api-oncall-ack"),
    path("oncall/<slug:role>/rotations/", api.Rotations.as_view(), name="api-oncall-rotations"),
    path("oncall/<slug:role>/overrides/", api.Overrides.as_view(), name="api-oncall-overrides"),
    path("oncall/<slug:role>/imports/", api.Imports.as_view(), name="api-oncall-imports"),
]
