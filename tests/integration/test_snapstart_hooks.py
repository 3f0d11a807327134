"""The SnapStart hooks are registered by every handler, and a restored container still reaches SendGrid."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from pytest_httpserver import HTTPServer

from local import template as cfn
from tests.support import BASE_ENVIRONMENT, ROOT, invoke

TEMPLATE = cfn.load_template()
AUTHORIZER = "TokenAuthorizerFunction"
BEFORE_SNAPSHOT = ["scheduled_sends.entry.snapstart.build_clients"]
AFTER_RESTORE = ["scheduled_sends.entry.snapstart.drop_pooled_connections"]

# One fresh interpreter per handler: the registry starts empty, only that handler's module is imported (by
# file path, as Lambda loads CodeUri/Handler), and what the registry then holds is printed as JSON.
_CHILD = """
import importlib.util, json, sys
import snapshot_restore_py as hooks

assert hooks.get_before_snapshot() == [] and hooks.get_after_restore() == [], "registry not empty at start"
path, attribute = sys.argv[1], sys.argv[2]
spec = importlib.util.spec_from_file_location("handler_under_test", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
assert callable(getattr(module, attribute)), attribute


def names(registry):
    return [f"{func.__module__}.{func.__qualname__}" for func, _args, _kwargs in registry]


print(json.dumps({"before_snapshot": names(hooks.get_before_snapshot()),
                  "after_restore": names(hooks.get_after_restore())}))
"""


def _handlers(functions: list) -> list:
    """(handler file, handler attribute) of each function once, from the template's CodeUri and Handler."""
    by_folder = {function.code_dir.name: function for function in functions}
    found = []
    for folder, function in sorted(by_folder.items()):
        module, attribute = function.handler.rsplit(".", 1)
        found.append(pytest.param(function.code_dir / f"{module}.py", attribute, id=folder))
    return found


API_AND_SCANNER = _handlers([*cfn.routes(TEMPLATE), *cfn.scheduled_functions(TEMPLATE)])
_authorizer = TEMPLATE["Resources"][AUTHORIZER]["Properties"]
AUTHORIZER_HANDLER = (
    ROOT / _authorizer["CodeUri"] / f"{_authorizer['Handler'].rsplit('.', 1)[0]}.py",
    _authorizer["Handler"].rsplit(".", 1)[1],
)


def _registered_after_importing(path: os.PathLike, attribute: str) -> dict[str, list[str]]:
    """The hooks a fresh interpreter holds after importing only `path` (cwd the repo root, the layer and the
    repo root on PYTHONPATH, the template's import-time environment and nothing else from this process)."""
    pythonpath = [str(directory) for directory in cfn.layer_dirs(TEMPLATE)] + [str(ROOT)]
    environment = {**BASE_ENVIRONMENT, "PYTHONPATH": os.pathsep.join(pythonpath)}
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), attribute],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr
    return json.loads(child.stdout.splitlines()[-1])


def test_the_api_handlers_and_the_scanner_are_all_checked() -> None:
    checked = {param.id for param in API_AND_SCANNER}
    # The seven operations, the two on-call routes and the scanner.
    assert len(checked) == len(API_AND_SCANNER) == 10, checked
    assert "expiry_scanner" in checked


@pytest.mark.parametrize(("path", "attribute"), API_AND_SCANNER)
def test_each_handler_registers_the_hooks_on_its_own(path: os.PathLike, attribute: str) -> None:
    assert _registered_after_importing(path, attribute) == {
        "before_snapshot": BEFORE_SNAPSHOT,
        "after_restore": AFTER_RESTORE,
    }


def test_the_token_authorizer_registers_no_hooks() -> None:
    """True today, and harmless: the authorizer never calls SendGrid (no pooled SendGrid connection to drop)
    and reads the key of no one; its only client, the token table's, is built lazily on the first invocation.
    SnapStart still applies to it (Globals), it just has nothing to prepare or drop. If it starts
    registering hooks, this test says so and the expectation is updated knowingly."""
    assert _registered_after_importing(*AUTHORIZER_HANDLER) == {"before_snapshot": [], "after_restore": []}


@pytest.mark.usefixtures("as_admin")
def test_clients_built_before_the_snapshot_work_after_restore(fake_sendgrid: HTTPServer) -> None:
    from scheduled_sends.entry import snapstart

    fake_sendgrid.expect_request("/v3/user/scheduled_sends").respond_with_json([])
    snapstart.build_clients()  # at init, before the snapshot: no key is read, nothing is sent
    assert fake_sendgrid.log == []
    assert invoke("list_scheduled_sends")["statusCode"] == 200  # opens a keep-alive connection

    snapstart.drop_pooled_connections()  # after restore

    assert invoke("list_scheduled_sends")["statusCode"] == 200
    assert len(fake_sendgrid.log) == 2
