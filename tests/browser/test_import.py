"""A new importer in the browser: upload a customers file, check it, see the error, upload the fixed
file, import it, and find the customers in the customer list (issue 5, "tried as a new user would")."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from fincrm.customers.models import Customer
from fincrm.integration.models import ImportBatch
from fincrm.platform import jobs
from tests.browser.flows import label, sign_in_with_totp, url
from tests.integration.import_support import csv_bytes, customer_rows
from tests.support.world import World


def _upload(page: Page, data: bytes) -> None:
    page.goto(url(page, "/imports/"))
    page.get_by_test_id("new-import").click()
    page.get_by_label(label("Data"), exact=True).select_option("customers")
    page.get_by_label(label("File"), exact=True).set_input_files(
        {"name": "customers.csv", "mimeType": "text/csv", "buffer": data}
    )
    page.get_by_role("button", name=label("Upload")).click()
    expect(page.get_by_test_id("mapping-form")).to_be_visible()


def _run_and_wait(page: Page, button: str, status: str) -> None:
    page.get_by_test_id(button).click()
    expect(page.get_by_test_id("import-status")).to_have_text(label("Queued"))
    job = jobs.run_one()  # the worker; the page polls and reloads when it is done
    assert job is not None
    batch = ImportBatch.objects.order_by("-created_at").first()
    assert batch is not None
    # When the run went wrong, say how: the job's error (class and frames) and the batch's.
    assert batch.status != ImportBatch.Status.FAILED, (job.task, job.status, job.last_error, batch.error)
    expect(page.get_by_test_id("import-status")).to_have_text(label(status))


def test_check_fix_import_and_find_the_customers(page: Page, live_world: World) -> None:
    sign_in_with_totp(page, "operations_a")

    _upload(page, csv_bytes(customer_rows(3, bad_id_at=1)))
    _run_and_wait(page, "check", "Errors found, nothing written")
    issues = page.get_by_test_id("import-issues")
    expect(issues).to_contain_text("checksum")
    expect(issues).to_contain_text("id_number")
    assert not Customer.objects.filter(customer_number__startswith="IMPW").exists()

    _upload(page, csv_bytes(customer_rows(3)))
    _run_and_wait(page, "check", "Checked (dry run)")
    _run_and_wait(page, "import", "Imported")
    expect(page.locator('[data-count="inserted"]')).to_have_text("3")
    assert ImportBatch.objects.filter(status="done").count() == 1

    page.goto(url(page, "/customers/"))
    for number in ("IMPW0001", "IMPW0002", "IMPW0003"):
        expect(page.get_by_text(number)).to_be_visible()
    assert World.user("operations_a").import_batches.count() == 2
