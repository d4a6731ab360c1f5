"""docs/integration.md's complete page, as printed: Intercom's own loader, then bridge.js, then
the helper. Intercom's widget script is a stand-in served in its place (nothing leaves the
machine): like Intercom's, it runs the calls the loader queued and boots by itself when
``window.intercomSettings`` is set."""

from __future__ import annotations

import re
from typing import Any

import jwt
from playwright.async_api import Route

from tests.browser.conftest import MakeStage, Stage
from tests.browser.test_doc_snippets import INTERCOM_SECRET, PAGE, PAGE_GATEWAY
from tests.conftest import SUB

WIDGET_URL = "https://widget.intercom.io/widget/**"
#: what Intercom's widget script does with the page's state when it arrives
STANDIN_WIDGET = """
(() => {
  const calls = (window.intercomCalls = []);
  const queued = (window.Intercom && window.Intercom.q) || [];
  if (window.intercomSettings) calls.push(["boot", Object.assign({}, window.intercomSettings)]);
  const intercom = (...args) => { calls.push(args); };
  queued.forEach((args) => intercom(...args));
  window.Intercom = intercom;
})();
"""


def complete_page() -> str:
    section = PAGE.read_text(encoding="utf-8").split("## A complete page", 1)[1]
    found = re.search(r"```html\n(.*?)```", section, flags=re.DOTALL)
    assert found is not None
    return found.group(1)


async def boots(stage: Stage, html: str) -> list[Any]:
    """The Intercom calls the page makes, in order, once its widget script has arrived."""
    context = await stage.context()
    page = await context.new_page()
    page.on("pageerror", lambda error: stage.page_errors.append(str(error)))

    stage.pages["complete"] = html.replace(PAGE_GATEWAY, stage.gateway)

    async def serve_widget(route: Route) -> None:
        await route.fulfill(body=STANDIN_WIDGET, content_type="text/javascript")

    await page.route(WIDGET_URL, serve_widget)  # Intercom's script: the stand-in, from here
    await page.goto(stage.shop + "/pages/complete")
    await page.wait_for_function(
        "window.intercomCalls && window.intercomCalls.some((c) => c[1] && c[1].intercom_user_jwt)"
    )
    calls: list[Any] = await page.evaluate("window.intercomCalls")
    return calls


async def make(make_stage: MakeStage) -> Stage:
    intercom = {"type": "intercom", "secret": {"value": INTERCOM_SECRET}}
    return await make_stage(targets={"intercom": intercom}, default_target="intercom")


async def test_the_complete_page_boots_intercom_once_with_the_visitors_jwt(
    make_stage: MakeStage,
) -> None:
    stage = await make(make_stage)
    html = complete_page()
    assert "intercomSettings=" not in html.replace(" ", "")  # as the page says: left out
    [[call, settings]] = await boots(stage, html)
    assert (call, settings["app_id"]) == ("boot", "YOUR_APP_ID")
    claims = jwt.decode(settings["intercom_user_jwt"], INTERCOM_SECRET, algorithms=["HS256"])
    assert claims["user_id"] == SUB
    assert stage.page_errors == []


async def test_with_intercom_settings_the_messenger_boots_twice_first_anonymously(
    make_stage: MakeStage,
) -> None:
    """Why the page leaves ``intercomSettings`` out."""
    stage = await make(make_stage)
    with_settings = complete_page().replace(
        "<!-- 1.", '<script>window.intercomSettings = { app_id: "YOUR_APP_ID" };</script>\n<!-- 1.'
    )
    calls = await boots(stage, with_settings)
    assert [call[0] for call in calls] == ["boot", "boot"]
    assert "intercom_user_jwt" not in calls[0][1]
