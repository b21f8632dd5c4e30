from django.urls import path

from audits import views

app_name = "audits"
urlpatterns = [
    path("events/", views.event_list, name="event-list"),
    path("verify/", views.chain_verify, name="chain-verify"),
    path("overdue/", views.overdue_list, name="overdue-list"),
]
