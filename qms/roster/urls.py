"""Routes of the on-call roster pages (in the ``qms`` namespace)."""

from django.urls import path

from qms.roster import views

urlpatterns = [
    path("oncall/", views.roster_overview, name="oncall"),
    path("oncall/gaps/", views.coverage_gaps_view, name="oncall-gaps"),
    path("oncall/ack/<str:token>/", views.page_acknowledge_view, name="oncall-ack"),
    path("oncall/<slug:role>/", views.roster_role, name="oncall-role"),
    path("oncall/<slug:role>/rotations/", views.rotation_create_view, name="oncall-rotation"),
    path("oncall/<slug:role>/overrides/", views.override_add_view, name="oncall-override"),
    path("oncall/<slug:role>/import/", views.roster_import_view, name="oncall-import"),
]
