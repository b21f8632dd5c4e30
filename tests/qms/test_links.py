"""Record links reversed once per URLconf and script prefix give what ``reverse()`` gives, for every path."""

import pytest
from django.test import override_settings
from django.urls import NoReverseMatch, clear_script_prefix, path, reverse, set_script_prefix

from qms.links import record_url

IDS = ["CHG-EMG-20261204-0930", "CHG-EMG-20261204-0930-2", "BYP-L2-20261204-0001", "CHG-STD-1"]


def _view(request, identifier):  # pragma: no cover - only reversed
    raise AssertionError


urlpatterns = [path("elsewhere/<str:identifier>/", _view, name="change-detail")]


@pytest.mark.parametrize("identifier", IDS)
def test_a_record_link_is_what_reverse_gives(identifier):
    for name in ("emergencies:change-detail", "emergencies:bypass-detail"):
        assert record_url(name, identifier) == reverse(name, kwargs={"identifier": identifier})


def test_the_script_prefix_of_the_request_is_kept():
    set_script_prefix("/qms/")
    try:
        assert (
            record_url("emergencies:change-detail", IDS[0])
            == f"/qms/emergencies/{IDS[0]}/"
            == reverse("emergencies:change-detail", kwargs={"identifier": IDS[0]})
        )
    finally:
        clear_script_prefix()
    assert record_url("emergencies:change-detail", IDS[0]) == f"/emergencies/{IDS[0]}/"


def test_another_urlconf_is_not_served_a_pattern_of_the_first():
    record_url("emergencies:change-detail", IDS[0])
    with override_settings(ROOT_URLCONF=__name__):
        assert record_url("change-detail", IDS[0]) == f"/elsewhere/{IDS[0]}/"
        with pytest.raises(NoReverseMatch):
            record_url("emergencies:change-detail", IDS[0])
    assert record_url("emergencies:change-detail", IDS[0]) == f"/emergencies/{IDS[0]}/"


@pytest.mark.parametrize("identifier", ["", "chg-emg-1", "CHG/../admin", "CHG-EMG-1?x=1", "CHG-EMG 1"])
def test_anything_not_a_record_id_goes_through_reverse_and_is_refused_there(identifier):
    with pytest.raises(NoReverseMatch):
        record_url("emergencies:change-detail", identifier)
