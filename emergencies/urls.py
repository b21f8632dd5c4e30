from django.urls import path, register_converter

from emergencies import views


class RecordIdConverter:
    regex = r"[A-Z]+(?:-[A-Z0-9]+)+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(RecordIdConverter, "recordid")

app_name = "emergencies"
urlpatterns = [
    path("", views.change_list, name="change-list"),
    path("new/", views.stub_create, name="stub-create"),
    path("<recordid:identifier>.md", views.change_markdown, name="change-markdown"),
    path("<recordid:identifier>/", views.change_detail, name="change-detail"),
    path("<recordid:identifier>/checklist/", views.change_checklist, name="change-checklist"),
    path("<recordid:identifier>/actions/<slug:transition>/", views.change_transition, name="change-transition"),
]
