from django.urls import path

from emergencies.views import github

urlpatterns = [
    path("github/webhook", github.webhook, name="github-webhook"),
]
