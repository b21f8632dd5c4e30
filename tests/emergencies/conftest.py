import pytest

from tests.emergencies.github_api import GitHubAPIServer

WEBHOOK_SECRET = "It's a Secret to Everybody"


@pytest.fixture
def github_api(settings):
    """GitHub's REST API as its description says; the test fails on any call the description does not allow."""
    with GitHubAPIServer() as server:
        settings.GITHUB_API_URL = server.url
        settings.GITHUB_TOKEN = "github_pat_test"
        settings.GITHUB_APP_ID = ""
        yield server
    assert not server.errors, server.errors


@pytest.fixture
def webhook_secret(settings):
    settings.GITHUB_WEBHOOK_SECRET = WEBHOOK_SECRET
    return WEBHOOK_SECRET


@pytest.fixture
def gate_people(make_user, oncall):
    """Who publishes a procedure version with a gate of its own and who then uses it (the per-procedure gate tests)."""
    from qms.roles import Role

    return {
        "dev": oncall,
        "lead": make_user(Role.LEAD, username="lead"),
        "author": make_user(Role.QMS, username="qms-author"),
        "qms": make_user(Role.QMS, username="qms2"),
        "quality": make_user(Role.QUALITY, username="quality"),
        "admin": make_user(username="root", is_superuser=True, is_staff=True),
    }
