"""deploy/monitoring: the alert rules run through promtool, the dashboard's shape, and every
series either of them names checked against a running gateway's scrape and the metrics table
of docs/operations.md (so a renamed metric fails here, not in someone's dashboard)."""

from __future__ import annotations

import asyncio
import functools
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml
from pytest_aiohttp import AiohttpServer

from scripts import monitoring
from tests.api.test_login_systems import IDP_COOKIE, shop_token, two_systems
from tests.api.test_visitors import AUTH, STAFF_KEY
from tests.ops.test_serve import Gateway, fresh_connection_get
from tests.support.fake_idp import start_fake_idp
from tests.support.fake_zendesk import CHAT_TOKEN, FakeZendesk
from tests.support.prom import parse
from tests.support.redis_server import RedisServer, unique_prefix

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
OPERATIONS = ROOT / "docs" / "operations.md"


def promtool(*args: str, cwd: Path = MONITORING) -> subprocess.CompletedProcess[str]:
    found = shutil.which("promtool")
    assert found, "promtool is missing: apt-get install prometheus (make promtool does)"
    return subprocess.run(  # noqa: S603 - a fixed tool on files of ours
        [found, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


@functools.cache
def alert_rules() -> list[dict[str, Any]]:
    rules = yaml.safe_load((MONITORING / "alerts.yaml").read_text())
    return [rule for group in rules["groups"] for rule in group["rules"]]


@functools.cache
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((MONITORING / "dashboard.json").read_text())
    return loaded


def panels() -> list[dict[str, Any]]:
    return [panel for panel in dashboard()["panels"] if panel["type"] != "row"]


# --- the rules --------------------------------------------------------------------------------


def test_promtool_checks_the_rules() -> None:
    result = promtool("check", "rules", "alerts.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


def test_promtool_runs_the_rules_unit_tests() -> None:
    result = promtool("test", "rules", "alerts.test.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_unit_tests_catch_a_broken_rule(tmp_path: Path) -> None:
    """A threshold that can never be met makes the firing case of its alert fail."""
    alerts = (MONITORING / "alerts.yaml").read_text()
    assert alerts.count("expr: bridge_redis_up == 0") == 1
    (tmp_path / "alerts.yaml").write_text(
        alerts.replace("bridge_redis_up == 0", "bridge_redis_up == 2")
    )
    shutil.copy(MONITORING / "alerts.test.yaml", tmp_path)
    result = promtool("test", "rules", "alerts.test.yaml", cwd=tmp_path)
    assert result.returncode != 0
    assert "alertname: BridgeRedisDown" in result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    tests = yaml.safe_load((MONITORING / "alerts.test.yaml").read_text())["tests"]
    cases = [case for test in tests for case in test["alert_rule_test"]]
    for rule in alert_rules():
        mine = [case for case in cases if case["alertname"] == rule["alert"]]
        assert any(case["exp_alerts"] for case in mine), f"{rule['alert']} never fires"
        assert any(not case["exp_alerts"] for case in mine), f"{rule['alert']} always fires"


def test_every_alert_waits_says_what_and_links_its_runbook() -> None:
    anchors = {_anchor(m[1]) for m in re.finditer(r"^#+ (.+)$", OPERATIONS.read_text(), re.M)}
    for rule in alert_rules():
        assert re.fullmatch(r"[0-9]+m", rule["for"]), rule["alert"]  # never an instant page
        assert rule["labels"]["severity"] in {"critical", "warning"}
        annotations = rule["annotations"]
        assert annotations["summary"]
        assert annotations["description"]
        path, _, anchor = annotations["runbook_url"].partition("#")
        assert (path, anchor) == ("docs/operations.md", rule["alert"].lower())
        assert anchor in anchors, f"docs/operations.md has no section {rule['alert']}"


def _anchor(heading: str) -> str:
    """The anchor a Markdown renderer gives a heading (GitHub's rule)."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_prometheusrule_is_made_from_the_rule_file() -> None:
    assert monitoring.main(["--check"]) == 0
    made = yaml.safe_load(monitoring.prometheus_rule((MONITORING / "alerts.yaml").read_text()))
    assert (
        made["spec"]["groups"] == yaml.safe_load((MONITORING / "alerts.yaml").read_text())["groups"]
    )


# --- the dashboard ----------------------------------------------------------------------------


def test_the_dashboards_data_source_is_a_template_variable() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    wanted = {"type": "prometheus", "uid": "${datasource}"}
    for panel in panels():
        assert panel["datasource"] == wanted, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == wanted, panel["title"]
    # no data source of the machine it was drawn on
    assert '"uid": "${datasource}"' in json.dumps(dashboard(), indent=1)
    assert not re.search(r'"uid": "(?!\$\{datasource\}|bridge-gateway)', json.dumps(dashboard()))


def test_the_dashboards_panels_each_have_a_place_and_a_description() -> None:
    ids = [panel["id"] for panel in dashboard()["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels():
        assert panel["description"], panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
    titles = {panel["title"] for panel in panels()}
    described = OPERATIONS.read_text()
    for title in titles:  # docs/operations.md says what each panel shows
        assert f"**{title}**" in described, title


def dashboard_queries() -> list[str]:
    return [target["expr"] for panel in panels() for target in panel["targets"]]


GRAFANA_MACROS = {"$__rate_interval": "5m", "$__range": "6h", "$job": ".*"}


def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    rules = []
    for index, query in enumerate(dashboard_queries()):
        for macro, value in GRAFANA_MACROS.items():
            query = query.replace(macro, value)
        assert "$" not in query, query
        rules.append({"record": f"dashboard:query_{index}", "expr": query})
    (tmp_path / "queries.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "q", "rules": rules}]})
    )
    result = promtool("check", "rules", "queries.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


# --- the series they name ---------------------------------------------------------------------

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_KEYWORDS = {"and", "or", "unless", "bool", "offset"}


def series_names(query: str) -> set[str]:
    """The metric names a PromQL query selects (functions, labels and keywords left out)."""
    query = _STRING.sub('""', query)
    query = re.sub(r"\{[^}]*\}", "", query)  # label matchers
    query = re.sub(r"\[[^\]]*\]", "", query)  # ranges
    query = _GROUPING.sub("", query)
    names = set()
    for match in re.finditer(r"(?<![\w.$])[A-Za-z_:][\w:]*", query):
        if query[match.end() :].lstrip().startswith("(") or match[0] in _KEYWORDS:
            continue
        names.add(match[0])
    return names


def test_series_names_finds_metrics_and_only_metrics() -> None:
    query = (
        'sum by (le) (rate(a_bucket{route=~".*/token", x="y z"}[5m])) / on (login) '
        "max_over_time(b_total[1h]) unless c or vector(0) > 0.25"
    )
    assert series_names(query) == {"a_bucket", "b_total", "c"}
    assert series_names("up == 0") == {"up"}  # a series the gateway does not export: caught


def named_series() -> dict[str, set[str]]:
    """Each series name the rules and the dashboard use, and where."""
    where: dict[str, set[str]] = {}
    queries = [(rule["alert"], rule["expr"]) for rule in alert_rules()]
    queries += [(f"panel {p['title']}", t["expr"]) for p in panels() for t in p["targets"]]
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            [name] = re.findall(r"label_values\((\w+),", variable["definition"])
            queries.append((f"variable {variable['name']}", name))
    for used_by, query in queries:
        for name in series_names(query):
            where.setdefault(name, set()).add(used_by)
    return where


def documented_series() -> set[str]:
    return set(re.findall(r"^\| `(bridge_\w+)` \|", OPERATIONS.read_text(), re.M))


def family(name: str) -> str:
    return re.sub(r"_(bucket|sum|count)$", "", name)


def test_the_docs_table_documents_every_series_the_kit_names() -> None:
    documented = documented_series()
    assert "bridge_http_requests_total" in documented  # the table was found
    for name, used_by in named_series().items():
        assert family(name) in documented, f"{name} ({', '.join(sorted(used_by))})"


async def test_a_running_gateway_exports_every_series_the_kit_names(
    tmp_path: Path,
    aiohttp_server: AiohttpServer,
    fake_zendesk: FakeZendesk,
    redis_server: RedisServer,
) -> None:
    """``bridge serve`` with two workers, a Redis, an RS login system, a Zendesk lookup and a
    rate limit: one request of each kind, then the scrape holds every series named."""
    idp = await start_fake_idp(aiohttp_server)
    fake_zendesk.visitors["9855790.kit"] = {"id": "9855790.kit", "name": "Kit"}
    data = two_systems(idp)
    data.update(
        log={"format": "json"},
        rate_limits={"per_address": None, "per_subject": {"per_minute": 1, "burst": 1}},
        redis={"url": redis_server.url, "key_prefix": unique_prefix()},
        staff={"api_keys": [{"value": STAFF_KEY}]},
        zendesk_chat_api={"base_url": fake_zendesk.chat_url, "token": {"value": CHAT_TOKEN}},
    )
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(data))
    gateway = Gateway(tmp_path, workers=2, use_config=True)
    try:
        await gateway.wait_healthy(workers=2)
        url = gateway.url
        shop = {"Cookie": f"token={shop_token()}"}
        assert (await fresh_connection_get(f"{url}/v1/targets/chat/token", headers=shop))[0] == 200
        assert (await fresh_connection_get(f"{url}/v1/targets/chat/token", headers=shop))[0] == 429
        idp_cookie = {"Cookie": f"{IDP_COOKIE}={idp.token()}"}
        assert (await fresh_connection_get(f"{url}/generate/token", headers=idp_cookie))[0] == 200
        assert (await fresh_connection_get(f"{url}/generate/token"))[0] == 401
        assert (await fresh_connection_get(f"{url}/v1/visitors/9855790.kit", headers=AUTH))[
            0
        ] == 200
        for _ in range(4):  # each worker answers a probe, pinging Redis
            assert (await fresh_connection_get(f"{url}/readyz"))[0] == 200
        await asyncio.sleep(1.5)  # the other worker's batch reaches the shared files
        status, text = await fresh_connection_get(f"{url}/metrics")
        assert status == 200
        exported = {name for name, _ in parse(text)}
        missing = {
            name: sorted(used_by)
            for name, used_by in named_series().items()
            if name not in exported
        }
        assert not missing, f"series named but not exported: {missing}"
        # and each exported family is in the docs table
        documented = documented_series()
        assert {family(name) for name in exported if name.startswith("bridge_")} <= documented
        assert gateway.stopped_cleanly()
    finally:
        gateway.kill()
