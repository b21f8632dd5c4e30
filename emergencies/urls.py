from django.urls import path, register_converter

from emergencies.views import bypasses, changes


class RecordIdConverter:
    regex = r"[A-Z]+(?:-[A-Z0-9]+)+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(RecordIdConverter, "recordid")

app_name = "emergencies"
urlpatterns = [
    path("", changes.change_list, name="change-list"),
    path("new/", changes.stub_create, name="stub-create"),
    path("<recordid:identifier>.md", changes.change_markdown, name="change-markdown"),
    path("<recordid:identifier>/", changes.change_detail, name="change-detail"),
    path("<recordid:identifier>/checklist/", changes.change_checklist, name="change-checklist"),
    path("<recordid:identifier>/actions/<slug:transition>/", changes.change_transition, name="change-transition"),
    path("bypasses/", bypasses.bypass_list, name="bypass-list"),
    path("bypasses/new/", bypasses.bypass_create, name="bypass-create"),
    path("bypasses/level/", bypasses.bypass_level_preview, name="bypass-level"),
    path("bypasses/<recordid:identifier>/", bypasses.bypass_detail, name="bypass-detail"),
    path("bypasses/<recordid:identifier>/sign/", bypasses.bypass_sign, name="bypass-sign"),
    path("bypasses/<recordid:identifier>/reject/", bypasses.bypass_reject, name="bypass-reject"),
    path("bypasses/<recordid:identifier>/verbal/", bypasses.bypass_verbal, name="bypass-verbal"),
    path("bypasses/<recordid:identifier>/withdraw/", bypasses.bypass_withdraw, name="bypass-withdraw"),
    path(
        "bypasses/<recordid:identifier>/confirm/<int:signature_id>/",
        bypasses.bypass_confirm,
        name="bypass-confirm",
    ),
]
