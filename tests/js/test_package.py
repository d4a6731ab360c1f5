"""js/: bridge.js as an npm package, checked with the tools its users have.

``npm pack`` builds it (no network) and the tarball is installed into a scratch project, where
TypeScript (js/package-lock.json's pin, installed by ``make js-deps``) type-checks a strict
consumer that uses every helper and consumers that must not compile. The script build must be
the file the gateway serves, byte for byte; the ES module runs in Chromium through the browser
tests (tests/browser, both builds).
"""

from __future__ import annotations

import json
import re
import shutil
import tarfile
from pathlib import Path

import pytest

import bridge
from tests.conftest import ORIGIN, AppClient
from tests.support.jspkg import JS, ROOT, packed, run, tool, typescript

CONSUMERS = Path(__file__).resolve().parent / "consumers"
SERVED = ROOT / "bridge" / "static" / "bridge.js"
PACKAGE = json.loads((JS / "package.json").read_text())
NAME = PACKAGE["name"]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project that installed the packed tarball, as a site's build would."""
    tarball, _ = packed()
    project = tmp_path_factory.mktemp("consumer")
    (project / "package.json").write_text(
        json.dumps({"name": "scratch", "private": True, "type": "module"})
    )
    result = run(
        tool("npm"), "install", "--offline", "--no-audit", "--no-fund", str(tarball),
        cwd=project,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return project


def typecheck(project: Path, *files: str, resolution: str = "bundler") -> str:
    """``tsc`` on ``files`` (from consumers/) in ``project``, strict; its output ("" if clean)."""
    for name in files:
        shutil.copy(CONSUMERS / name, project / name)
    module = "ESNext" if resolution == "bundler" else "Node16"
    options = {
        "strict": True, "noEmit": True, "target": "ES2022", "lib": ["ES2022", "DOM"],
        "module": module, "moduleResolution": resolution, "types": [],
        "noUncheckedIndexedAccess": True, "exactOptionalPropertyTypes": True,
    }  # fmt: skip
    (project / "tsconfig.json").write_text(
        json.dumps({"compilerOptions": options, "files": list(files)})
    )
    result = run(typescript(), "-p", "tsconfig.json", "--pretty", "false", cwd=project)
    output = result.stdout + result.stderr
    assert (result.returncode == 0) == (output.strip() == ""), output
    return output


# --- what is in the package -------------------------------------------------------------------


def test_the_tarball_holds_the_builds_and_declarations_and_nothing_else() -> None:
    tarball, _ = packed()
    with tarfile.open(tarball) as archive:
        names = sorted(archive.getnames())
    assert names == [
        "package/LICENSE",
        "package/README.md",
        "package/bridge.d.ts",
        "package/dist/bridge.js",
        "package/dist/bridge.mjs",
        "package/global.d.ts",
        "package/package.json",
    ]
    assert (JS / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()
    assert "dependencies" not in PACKAGE  # no runtime dependencies
    assert "peerDependencies" not in PACKAGE


def test_the_package_version_is_the_gateways() -> None:
    _, package = packed()
    assert PACKAGE["version"] == bridge.__version__
    assert json.loads((package / "package.json").read_text())["version"] == bridge.__version__
    lock = json.loads((JS / "package-lock.json").read_text())
    assert lock["version"] == lock["packages"][""]["version"] == bridge.__version__


def test_the_lock_pins_typescript_by_hash_and_names_no_download_host() -> None:
    lock = json.loads((JS / "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/typescript"]
    assert pinned["version"] == PACKAGE["devDependencies"]["typescript"]
    assert pinned["integrity"].startswith("sha512-")
    assert "resolved" not in json.dumps(lock)


async def test_the_served_file_is_the_packages_script_build(client: AppClient) -> None:
    _, package = packed()
    script = (package / "dist" / "bridge.js").read_bytes()
    assert script == SERVED.read_bytes()
    async with client.get("/static/bridge.js") as response:
        assert response.status == 200
        assert await response.read() == script


async def test_listed_origins_may_read_the_script_for_subresource_integrity(
    client: AppClient,
) -> None:
    async with client.get("/static/bridge.js", headers={"Origin": ORIGIN}) as response:
        assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert "Origin" in response.headers["Vary"]  # a shared cache keeps origins apart
    stranger = {"Origin": "https://stranger.example"}
    async with client.get("/static/bridge.js", headers=stranger) as response:
        assert response.status == 200  # a plain <script> still loads it
        assert not [h for h in response.headers if h.lower().startswith("access-control-")]


def node_eval(code: str) -> object:
    result = run(tool("node"), "--input-type=module", "-e", code, cwd=JS)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_module_exports_what_the_script_global_has() -> None:
    _, package = packed()
    module = package / "dist" / "bridge.mjs"
    script = package / "dist" / "bridge.js"
    found = node_eval(f"""
        import {{ readFileSync }} from "node:fs";
        import vm from "node:vm";
        import * as esm from {json.dumps(str(module))};
        const window = {{}};
        vm.runInNewContext(readFileSync({json.dumps(str(script))}, "utf8"), {{ window }});
        let code = null;
        try {{ esm.decodeJwt("not a token"); }} catch (err) {{
            code = err instanceof esm.BridgeError ? err.code : "not a BridgeError";
        }}
        const client = esm.connect({{ gateway: "https://bridge.example.com/" }});
        console.log(JSON.stringify({{
            module: Object.keys(esm).sort(),
            script: Object.keys(window.Bridge).sort(),
            sameDefault: esm.default.connect === esm.connect,
            helpers: Object.keys(client).sort(),
            gateway: client.gateway,
            code,
            globalUntouched: typeof globalThis.Bridge === "undefined",
        }}));
    """)
    assert found == {
        "module": ["BridgeError", "connect", "decodeJwt", "default"],
        "script": ["BridgeError", "connect", "decodeJwt"],
        "sameDefault": True,
        "helpers": sorted(
            [
                "gateway",
                "token",
                "zendeskChat",
                "webWidgetClassic",
                "zendeskMessaging",
                "freshdesk",
                "zipchat",
                "intercom",
                "hubspot",
                "crisp",
                "helpScout",
                "frontChat",
            ]
        ),
        "gateway": "https://bridge.example.com",
        "code": "malformed_token",
        "globalUntouched": True,
    }


# --- the declarations -------------------------------------------------------------------------


def test_the_declarations_type_check_on_their_own() -> None:
    result = run(typescript(), "-p", "tsconfig.json", "--pretty", "false", cwd=JS)
    assert result.returncode == 0, result.stdout + result.stderr


def declared_helpers() -> set[str]:
    text = (JS / "bridge.d.ts").read_text()
    body = text[text.index("export interface BridgeClient {") :]
    body = body[: body.index("\n}\n")]
    return set(re.findall(r"^  (\w+)\(", body, re.M))


def test_every_helper_of_the_script_is_declared_with_a_doc_comment() -> None:
    script = SERVED.read_text()
    returned = script[script.rindex("    return {") :]
    helpers = set(re.findall(r"^      (\w+): \w+,$", returned, re.M)) - {"gateway"}
    assert helpers == declared_helpers()
    text = (JS / "bridge.d.ts").read_text()
    for helper in helpers:
        assert re.search(rf"\*/\n  {helper}\(", text), f"{helper} has no doc comment"


def declared_codes() -> set[str]:
    text = (JS / "bridge.d.ts").read_text()
    unions = text[
        text.index("export type GatewayErrorCode") : text.index("export type BridgeErrorCode")
    ]
    return set(re.findall(r'^  \| "([^"]+)"', unions, re.M))


def test_every_error_code_the_client_or_the_docs_name_is_in_the_union() -> None:
    made = set(re.findall(r'new BridgeError\(\s*"([^"]+)",', SERVED.read_text()))
    assert {"network_error", "timeout", "widget_missing", "malformed_token"} <= made
    assert made <= declared_codes()
    assert '"http_" + response.status' in SERVED.read_text()
    assert "`http_${number}`" in (JS / "bridge.d.ts").read_text()
    table = (ROOT / "docs" / "integration.md").read_text().split("## Errors", 1)[1]
    documented = set(re.findall(r"^\| `([^`<]+)`", table, re.M))
    documented |= set(re.findall(r"^\| `[^`]+` / `([^`]+)`", table, re.M))
    documented |= set(re.findall(r"^\| `[^`]+`, `([^`<]+)`", table, re.M))
    documented.discard("code")  # the table's header
    assert {"00-00", "00-02", "00-03", "rate_limited", "bad_response"} <= documented
    assert documented <= declared_codes()


# --- a consumer of the packed tarball ---------------------------------------------------------


@pytest.mark.parametrize("resolution", ["bundler", "node16"])
def test_a_strict_consumer_of_the_tarball_type_checks(scratch: Path, resolution: str) -> None:
    assert typecheck(scratch, "good.ts", "global.ts", resolution=resolution) == ""


def test_the_consumer_uses_every_helper() -> None:
    used = set(re.findall(r"bridge\s*\.(\w+)\(", (CONSUMERS / "good.ts").read_text()))
    assert declared_helpers() <= used


WRONG = sorted(path.name for path in CONSUMERS.glob("wrong_*.ts"))


@pytest.mark.parametrize("name", WRONG)
def test_a_wrong_consumer_does_not_compile(scratch: Path, name: str) -> None:
    """Each file marks the one line that must fail, with the error TypeScript must give."""
    lines = (CONSUMERS / name).read_text().splitlines()
    [(line, code)] = [
        (number, m[1])
        for number, text in enumerate(lines, 1)
        if (m := re.search(r"// error (TS\d+)", text))
    ]
    output = typecheck(scratch, name)
    errors = re.findall(r"^(\S+)\((\d+),\d+\): error (TS\d+)", output, re.M)
    assert errors == [(name, str(line), code)], output


def test_wrong_consumers_cover_the_promised_mistakes() -> None:
    assert {"wrong_missing_gateway.ts", "wrong_target_type.ts", "wrong_unknown_helper.ts"} <= set(
        WRONG
    )


def test_the_docs_typescript_snippets_type_check(scratch: Path) -> None:
    text = (ROOT / "docs" / "integration.md").read_text()
    snippets = re.findall(r"```ts\n(.*?)```", text, flags=re.DOTALL)
    assert snippets
    for index, snippet in enumerate(snippets):
        name = f"docs_snippet_{index}.ts"
        (scratch / name).write_text(snippet + "\nexport {};\n")
        options = {"strict": True, "noEmit": True, "target": "ES2022", "lib": ["ES2022", "DOM"],
                   "module": "ESNext", "moduleResolution": "bundler", "types": []}  # fmt: skip
        (scratch / "tsconfig.json").write_text(
            json.dumps({"compilerOptions": options, "files": [name]})
        )
        result = run(typescript(), "-p", "tsconfig.json", "--pretty", "false", cwd=scratch)
        assert result.returncode == 0, result.stdout + snippet
