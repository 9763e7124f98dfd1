"""The pages people work in, in a real browser, through the gateway, with every service running."""

import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import PHONE, SignIn, bearer, expect_live
from tools.stack import Stack

Shot = Callable[[Page, str], Path]


def open_ticket(
    api: httpx.Client, user: dict[str, Any], subject: str, description: str
) -> dict[str, Any]:
    response = api.post(
        "/api/v1/tickets/",
        json={"subject": subject, "description": description},
        headers=bearer(user),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def mark_no_reload(page: Page) -> None:
    page.evaluate("window.__sameDocument = true")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"


def test_agent_signs_in_and_sees_the_queue(
    sign_in: SignIn, acme: dict[str, Any], shot: Shot
) -> None:
    page = sign_in(acme["agents"][0])
    expect(page.get_by_role("heading", name="All unsolved")).to_be_visible()
    rows = page.locator("#ticket-rows tr")
    expect(rows.first).to_be_visible()
    expect(page.locator("#ticket-rows")).to_contain_text("Order #4411 arrived with a torn tent")
    expect(page.locator('[data-count="open"] .count')).to_have_text(re.compile(r"^[1-9]\d*$"))
    expect(page.locator('#nav-queues [data-count^="queue:"]').first).to_be_visible()
    expect_live(page)
    # Keyboard: j focuses the first row's link, Enter opens it.
    page.keyboard.press("j")
    expect(page.locator("#ticket-rows a.row-link").first).to_be_focused()
    shot(page, "laptop")
    # Sorting by time to SLA breach asks the API for it and keeps working.
    page.get_by_label("Sort").select_option("breach")
    expect(page).to_have_url(re.compile(r"sort=breach"))
    expect(page.locator("#list-status")).not_to_have_text("Loading…")
    page.keyboard.press("/")
    expect(page.get_by_label("Search tickets")).to_be_focused()
    page.set_viewport_size(PHONE)
    page.get_by_role("link", name=re.compile("All unsolved")).click()
    expect(rows.first).to_be_visible()
    shot(page, "phone")


def test_customer_ticket_appears_in_the_agents_list_without_reload(
    sign_in: SignIn, acme: dict[str, Any], shot: Shot
) -> None:
    agent = sign_in(acme["agents"][0])
    expect_live(agent)
    mark_no_reload(agent)
    customer = sign_in(acme["customers"][1], "/app/portal/")
    expect_live(customer)
    subject = f"Stove will not light {uuid.uuid4().hex[:6]}"
    customer.get_by_label("Subject").fill(subject)
    customer.get_by_label("What happened?").fill("The igniter clicks but no flame.")
    customer.get_by_label("How urgent is it?").select_option("high")
    started = time.monotonic()
    customer.get_by_role("button", name="Send").click()
    expect(customer.locator("#new-status")).to_contain_text("is open")
    expect(customer.locator("#my-tickets")).to_contain_text(subject)
    row = agent.locator("#ticket-rows tr", has_text=subject)
    expect(row).to_be_visible(timeout=5_000)
    elapsed = time.monotonic() - started
    assert elapsed < 5, f"the new ticket took {elapsed:.1f} s to reach the agent's list"
    expect(row).to_contain_text("high")
    assert_not_reloaded(agent)
    shot(customer, "portal")
    shot(agent, "agent")


def test_two_agents_see_each_others_presence_and_typing(
    sign_in: SignIn, api: httpx.Client, acme: dict[str, Any], shot: Shot
) -> None:
    ticket = open_ticket(api, acme["customers"][0], "Presence check", "Two agents on one ticket")
    path = f"/app/tickets/{ticket['number']}/"
    alice_user, bruno_user = acme["agents"]
    alice = sign_in(alice_user, path)
    bruno = sign_in(bruno_user, path)
    expect_live(alice)
    expect_live(bruno)
    alice_sees = alice.locator("#presence")
    bruno_sees = bruno.locator("#presence")
    expect(alice_sees).to_contain_text("Bruno Silva is viewing")
    expect(bruno_sees).to_contain_text("Alice Novak is viewing")
    bruno.get_by_label("Reply to the customer").press_sequentially("Looking into it", delay=20)
    expect(alice_sees).to_contain_text("Bruno Silva is replying…")
    shot(alice, "alice")
    bruno.close()
    expect(alice_sees).not_to_contain_text("Bruno Silva", timeout=20_000)


def test_a_stale_reply_is_stopped_and_the_change_shown(
    sign_in: SignIn, api: httpx.Client, acme: dict[str, Any], shot: Shot
) -> None:
    ticket = open_ticket(api, acme["customers"][0], "Collision check", "Who answers first?")
    path = f"/app/tickets/{ticket['number']}/"
    alice = sign_in(acme["agents"][0], path)
    bruno = sign_in(acme["agents"][1], path)
    for page in (alice, bruno):  # the AI's verdict is a change too: let it land first
        expect(page.locator('#triage .triage-row[data-field="category"]')).to_be_visible(
            timeout=30_000
        )
    # Bruno starts writing; meanwhile Alice answers and puts the ticket on pending.
    bruno.get_by_label("Reply to the customer").fill("Could you send a photo?")
    alice.get_by_label("Reply to the customer").fill("We are sending a replacement today.")
    alice.get_by_role("button", name="Send reply").click()
    expect(alice.locator("#composer-status")).to_have_text("Reply sent.")
    alice.get_by_label("Status").select_option("pending")
    expect(alice.locator("#props-status")).to_have_text("Saved.")
    bruno.get_by_role("button", name="Send reply").click()
    stale = bruno.locator("#stale")
    expect(stale).to_be_visible()
    expect(stale).to_contain_text("New reply from Alice Novak")
    expect(stale).to_contain_text("We are sending a replacement today.")
    expect(stale).to_contain_text("Status: new → pending")
    expect(bruno.get_by_label("Reply to the customer")).to_have_value("Could you send a photo?")
    comments = api.get(
        f"/api/v1/tickets/{ticket['number']}/comments", headers=bearer(acme["admin"])
    )
    assert [c["body"] for c in comments.json()] == ["We are sending a replacement today."]
    shot(bruno, "stopped")
    # Having read it, Bruno sends it after all.
    bruno.get_by_role("button", name="Send anyway").click()
    expect(bruno.locator("#comments")).to_contain_text("Could you send a photo?")
    expect(stale).to_be_hidden()


def test_agent_reply_reaches_the_portal_live_and_a_note_never_does(
    sign_in: SignIn, api: httpx.Client, acme: dict[str, Any], shot: Shot
) -> None:
    customer_user = acme["customers"][1]
    ticket = open_ticket(api, customer_user, "Where is my parcel?", "Tracking says delivered.")
    number = ticket["number"]
    customer = sign_in(customer_user, f"/app/portal/tickets/{number}/")
    expect_live(customer)
    mark_no_reload(customer)
    agent = sign_in(acme["agents"][0], f"/app/tickets/{number}/")
    note = f"Courier is unreliable in that area {uuid.uuid4().hex[:6]}"
    agent.locator("label[for=kind-note]").click()  # the visible switch
    agent.get_by_label("Write an internal note").fill(note)
    agent.get_by_role("button", name="Add internal note").click()
    expect(agent.locator("#comments .comment-note")).to_contain_text(note)
    reply = "We asked the courier; you will hear from us tomorrow."
    agent.locator("label[for=kind-reply]").click()
    agent.get_by_label("Reply to the customer").fill(reply)
    agent.get_by_role("button", name="Send reply").click()
    expect(customer.locator("#comments")).to_contain_text(reply, timeout=5_000)
    assert_not_reloaded(customer)
    expect(customer.locator("#comments")).not_to_contain_text(note)
    assert note not in customer.content()
    customer.reload()
    expect(customer.locator("#comments")).to_contain_text(reply)
    assert note not in customer.content()
    shot(customer, "portal")
    shot(agent, "agent")


def test_ai_triage_verdict_is_shown_and_a_correction_recorded(
    sign_in: SignIn, api: httpx.Client, acme: dict[str, Any], shot: Shot
) -> None:
    ticket = open_ticket(
        api,
        acme["customers"][0],
        "Charged twice for my order",
        "My card was charged two times for the same invoice. Please refund the duplicate payment.",
    )
    page = sign_in(acme["agents"][0], f"/app/tickets/{ticket['number']}/")
    panel = page.locator("#triage")
    category = panel.locator('.triage-row[data-field="category"]')
    expect(category).to_be_visible(timeout=30_000)  # the AI worker triages it meanwhile
    expect(panel.locator('.triage-row[data-field="sentiment"]')).to_contain_text("%")
    expect(panel.locator('.triage-row[data-field="language"]')).to_be_visible()
    expect(panel.locator("#triage-model")).to_contain_text("Model ")
    predicted = category.locator(".triage-label").get_attribute("data-value") or ""
    corrected = "technical_issue" if predicted != "technical_issue" else "billing"
    category.get_by_label("Correct the category to").select_option(corrected)
    category.get_by_role("button", name="Correct").click()
    expect(page.locator("#props-status")).to_contain_text("Correction recorded")
    expect(category).to_contain_text(f"Corrected to {corrected.replace('_', ' ')}")
    shot(page, "")
    examples = api.get("/api/v1/triage/corrections", headers=bearer(acme["admin"])).json()
    mine = [e for e in examples if e["text"].startswith("Charged twice for my order")]
    assert mine, examples
    assert (mine[-1]["label"], mine[-1]["predicted"]) == (corrected, predicted)


def test_the_page_recovers_after_the_realtime_node_restarts_with_nothing_missed(
    sign_in: SignIn, api: httpx.Client, stack: Stack, acme: dict[str, Any], shot: Shot
) -> None:
    page = sign_in(acme["agents"][1])
    expect_live(page)
    mark_no_reload(page)
    stack.stop("realtime")
    expect(page.locator("#conn")).to_have_attribute("data-state", "reconnecting")
    shot(page, "down")
    subjects = [f"Written during the outage {n} {uuid.uuid4().hex[:6]}" for n in range(3)]
    for subject in subjects:
        open_ticket(api, acme["customers"][0], subject, "while realtime was away")
    stack.start("realtime")
    expect(page.locator("#conn")).to_have_attribute(
        "data-state", re.compile("live|resynced"), timeout=30_000
    )
    for subject in subjects:
        expect(page.locator("#ticket-rows tr", has_text=subject)).to_be_visible()
    expect(page.locator("#conn")).to_contain_text(re.compile("caught up|resynced"))
    assert_not_reloaded(page)
    # And it is live again afterwards.
    after = f"After the restart {uuid.uuid4().hex[:6]}"
    open_ticket(api, acme["customers"][0], after, "live again")
    expect(page.locator("#ticket-rows tr", has_text=after)).to_be_visible(timeout=5_000)
    shot(page, "recovered")


def test_reports_draw_charts_from_real_data_and_a_new_ticket_moves_the_count(
    sign_in: SignIn, api: httpx.Client, acme: dict[str, Any], shot: Shot
) -> None:
    page = sign_in(acme["admin"], "/app/reports/")
    for chart in ("volume", "backlog", "first", "resolution", "breaches", "triage"):
        expect(page.locator(f"#chart-{chart}")).to_have_attribute("data-drawn", "true")
    volume = page.locator("#chart-volume")
    assert int(volume.get_attribute("data-total") or 0) > 0
    assert int(page.locator("#chart-backlog").get_attribute("data-total") or 0) > 0
    expect(volume).to_have_attribute("aria-label", re.compile(r"\d+ created"))
    tile = page.locator("#tile-created_today")
    expect(tile).to_have_text(re.compile(r"^\d+$"))
    before = int(tile.inner_text())
    total_before = int(volume.get_attribute("data-total") or 0)
    mark_no_reload(page)
    open_ticket(api, acme["customers"][0], "Counted in the reports", "one more")
    expect(tile).to_have_text(str(before + 1), timeout=10_000)
    expect(volume).to_have_attribute("data-total", str(total_before + 1))
    assert_not_reloaded(page)
    # A canvas really has pixels on it (not a blank chart).
    drawn = page.evaluate(
        """() => { const c = document.getElementById('chart-volume');
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }"""
    )
    assert drawn > 1000
    shot(page, "")
