"""A lead signs in through the identity provider (npm oidc-provider, ``tests/qms/sso/oidc``), opens the bypass
waiting for their signature, re-authenticates at the provider to sign, and the signature shows the method."""

import re

import pytest
from playwright.sync_api import expect

from qms.models import Signature, User
from qms.roles import Role
from tests.browser.conftest import screenshot
from tests.emergencies.services.test_bypasses import request_bypass
from tests.factories import certify
from tests.qms.sso.oidc.idp import Provider

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def idp(live_server, settings):
    provider = Provider([live_server.url])
    for key, value in provider.settings().items():
        setattr(settings, key, value)
    yield provider
    provider.stop()


def _at_provider(page, idp, username, password):
    page.wait_for_url(re.compile(re.escape(idp.issuer) + r"/interaction/"))
    expect(page.get_by_role("heading", name=re.compile("Test identity provider"))).to_be_visible()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_sign_in_through_the_provider_and_sign_a_bypass_after_re_authenticating(idp, live_server, new_page, make_user):
    bypass = request_bypass(make_user(Role.ONCALL, username="oncall"))
    page = new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("link", name="Sign in with Test IdP").click()
    _at_provider(page, idp, "alice", "alice-pw")
    page.wait_for_url(f"{live_server.url}/")
    certify(User.objects.get(username="alice"))  # training records are the portal's, whatever the sign-in

    page.goto(f"{live_server.url}{bypass.get_absolute_url()}")
    expect(page.get_by_role("heading", name="Sign", exact=True)).to_be_visible()
    expect(page.locator("input[type=password]")).to_have_count(0)
    page.get_by_role("link", name="Re-authenticate to sign").first.click()
    _at_provider(page, idp, "alice", "alice-pw")  # prompt=login: the provider asks again
    page.wait_for_url(f"{live_server.url}{bypass.get_absolute_url()}")
    expect(page.get_by_text("Re-authenticated at the identity provider: sign now.")).to_be_visible()
    sign = page.locator("form[action$='/sign/']")
    sign.get_by_label("Role").select_option("lead")
    screenshot(page, "journey-sso-reauthenticated")
    sign.get_by_role("button", name="Approve and sign").click()
    expect(page.get_by_text("Signed.")).to_be_visible()
    expect(page.get_by_text(re.compile("re-authenticated at the identity provider", re.I)).first).to_be_visible()
    screenshot(page, "journey-sso-signed")
    signature = Signature.objects.get(subject_id=bypass.pk, signer__username="alice")
    assert signature.method == Signature.Method.SSO_REAUTH
