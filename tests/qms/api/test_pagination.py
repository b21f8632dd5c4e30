"""Every API list pages by cursor by default, with limit/offset kept as a deprecated alternative, and costs
the same number of queries on every page whatever the number of rows."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from qms.roles import Role
from tests.factories import file_stub
from tests.problems import problem_fields

pytestmark = pytest.mark.django_db

LISTS = ["/api/v1/emergencies/", "/api/v1/bypasses/", "/api/v1/ccb/sessions/", "/api/v1/procedure-drafts/"]


@pytest.fixture
def api(make_user):
    client = APIClient(raise_request_exception=False)
    client.force_login(make_user(Role.ONCALL, Role.QMS, username="pager", password="pw-correct-horse"))
    return client


@pytest.mark.parametrize("url", LISTS)
def test_cursor_is_the_default(api, url):
    body = api.get(url).json()
    assert set(body) == {"next", "previous", "results"}


@pytest.mark.parametrize("url", LISTS)
def test_offset_gives_the_deprecated_limit_offset_page(api, url):
    response = api.get(f"{url}?offset=0&limit=5")
    assert response.status_code == 200 and response["Deprecation"] == "true"
    assert set(response.json()) == {"count", "next", "previous", "results"}


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("cursor=garbage", "cursor"),
        ("cursor=cD0yMDI2LTAxLTAx&offset=3", "offset"),
        ("ordering=password", "ordering"),
        ("page_size=0", "page_size"),
        ("limit=201", "limit"),
    ],
)
def test_bad_paging_is_a_400_naming_the_parameter(api, url, query, field):
    assert field in problem_fields(api.get(f"{url}?{query}"))


def test_a_forged_cursor_position_of_the_wrong_type_is_400(api):
    import base64

    forged = base64.b64encode(b"p=not-a-date").decode()
    assert "cursor" in problem_fields(api.get(f"/api/v1/emergencies/?cursor={forged}"))


def _walk(api, url):
    api.get("/api/v1/emergencies/?limit=1")  # the session's first request costs its own queries
    pages, seen, counts = 0, [], []
    while url:
        with CaptureQueriesContext(connection) as queries:
            response = api.get(url)
        assert response.status_code == 200
        counts.append(len(queries))
        seen += [row["id"] for row in response.json()["results"]]
        url, pages = response.json()["next"], pages + 1
    return pages, seen, counts


def test_paging_by_cursor_sees_every_row_once_at_a_flat_query_budget(api, make_user):
    filer = make_user(Role.ONCALL, username="filer2")
    changes = [file_stub(filer) for _ in range(7)]
    pages, seen, counts = _walk(api, "/api/v1/emergencies/?limit=2")
    assert pages == 4 and sorted(seen) == sorted(c.identifier for c in changes) and len(set(seen)) == 7
    # a cache warmed on first use (the procedure version a row shows) may save a query on a later page
    assert max(counts) - min(counts) <= 1, counts
    more = [file_stub(filer) for _ in range(6)]
    _, seen, counts_more = _walk(api, "/api/v1/emergencies/?limit=2&ordering=declared_at")
    assert len(seen) == len(changes) + len(more) and max(counts_more) <= max(counts), (counts, counts_more)


def test_rows_filed_while_paging_do_not_shift_the_next_page(api, make_user):
    filer = make_user(Role.ONCALL, username="filer3")
    for _ in range(4):
        file_stub(filer)
    first = api.get("/api/v1/emergencies/?limit=2&ordering=declared_at").json()
    file_stub(filer)
    second = api.get(first["next"]).json()
    ids = [r["id"] for r in first["results"] + second["results"]]
    assert len(set(ids)) == 4
