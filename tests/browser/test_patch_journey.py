"""The patch package journey: the engineer uploads the patch file, the configuration manager approves it
with a signature, the release manager records an installation and sees the configuration audit refuse a
unit that reports the wrong hash."""

import pytest
from playwright.sync_api import expect

from emergencies.models import PatchPackage, UnitDistribution
from emergencies.services.patches import patch_package_create, unit_distributions_from_incident, unit_sent_record
from qms.roles import Role
from tests.browser.conftest import screenshot
from tests.emergencies.services.test_patches import FIRMWARE, FIRMWARE_SHA, OTHER_SHA, TEXTS, cm_wf_change
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_upload_approve_distribute_and_a_hash_mismatch_blocks_closure(new_page, login, make_user, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    oncall = make_user(Role.ONCALL, username="oncall", first_name="Olivia", last_name="Oncall")
    cm = make_user(Role.CM, username="cm", first_name="Cora", last_name="Config")
    program = make_user(Role.PROGRAM, username="program")
    make_user(Role.RELEASE, username="release", first_name="Rhea", last_name="Release")
    change = cm_wf_change(oncall, cm, program)
    package = patch_package_create(change_id=change.pk, actor=oncall, texts=TEXTS)
    firmware = tmp_path / "fw-2.4.1.bin"
    firmware.write_bytes(FIRMWARE)

    engineer = login(new_page(), "oncall")
    engineer.goto(engineer.url + f"emergencies/{change.identifier}/")
    engineer.get_by_role("link", name="Open the patch package").click()
    upload = engineer.get_by_test_id("upload-form")
    upload.get_by_label("File").set_input_files(str(firmware))
    upload.get_by_role("button", name="Upload and hash").click()
    expect(engineer.get_by_test_id("sha256")).to_have_text(FIRMWARE_SHA)
    expect(engineer.get_by_test_id("approve-card")).to_have_count(0)  # the author does not approve

    manager = login(new_page(), "cm")
    manager.goto(engineer.url)
    screenshot(manager, "patch-package-draft")
    card = manager.get_by_test_id("approve-card")
    card.get_by_label("Password").fill(PASSWORD)
    card.get_by_role("button", name="Approve and sign").click()
    expect(manager.get_by_test_id("package-status")).to_have_text("Package approved")
    package.refresh_from_db()
    assert package.status == PatchPackage.Status.APPROVED and package.approved_hashes[0]["sha256"] == FIRMWARE_SHA

    for unit in unit_distributions_from_incident(package_id=package.pk, actor=oncall):
        unit_sent_record(distribution_id=unit.pk, actor=oncall, channel="secure_delivery")
    release = login(new_page(), "release")
    release.goto(engineer.url)
    sn200 = UnitDistribution.objects.get(serial_number="SN-200")
    release.get_by_text("SN-200: log and record an event").click()
    form = release.locator(f"form[action$='/units/{sn200.pk}/events/']")
    form.get_by_label("What happened").select_option("installed")
    form.get_by_label("Hash the unit reports as deployed").fill(OTHER_SHA)
    form.get_by_role("button", name="Record for SN-200").click()

    expect(release.locator("tr[data-serial='SN-200']").get_by_test_id("hash-mismatch")).to_be_visible()
    expect(release.get_by_test_id("closure-problems")).to_contain_text(
        f"Configuration audit: unit SN-200 reports {OTHER_SHA}, approved {FIRMWARE_SHA}"
    )
    screenshot(release, "patch-package-mismatch")
