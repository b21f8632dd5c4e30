"""Routes outside systems call, under /integrations/: the GitHub webhook and the alert intake (no namespace)."""

from django.urls import path

from emergencies.views import alerts, github

urlpatterns = [
    path("github/webhook", github.webhook, name="github-webhook"),
    path("alerts/<slug:source>/", alerts.alert_intake, name="alert-intake"),
]
