"""A third-party connector package, installed for real: ``examples/lgsp-connector-webhook`` is
built and installed with pip (offline, into a temporary target) and, in a subprocess with that
target on ``PYTHONPATH``, its ``webhook`` type is discovered through the ``lgsp.connectors``
entry point, passes the shipped contract suite (pytest on the package's own test module) and
``check()``; its code keeps to the connector import rule."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import setuptools

from hub.testing import ConnectorContract
from tests.unit.test_layout import CONNECTOR_MAY_IMPORT, _imports

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "examples" / "lgsp-connector-webhook"


def _cannot_build_wheels() -> str | None:
    """Why setuptools cannot build a wheel here without build isolation (None: it can):
    from 70.1 it builds them alone, before that with ``wheel`` < 0.46."""
    if _version(setuptools.__version__) >= (70, 1):
        return None
    try:
        if _version(metadata.version("wheel")) < (0, 46):
            return None
    except metadata.PackageNotFoundError:
        pass
    return f"setuptools {setuptools.__version__} cannot build wheels: needs >=70.1, or wheel<0.46"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:2])


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The package installed into a fresh target directory (from a copy: a build writes
    ``build/`` and ``*.egg-info`` beside its sources)."""
    if reason := _cannot_build_wheels():
        (pytest.fail if os.environ.get("CI") else pytest.skip)(reason)
    work = tmp_path_factory.mktemp("third-party")
    source = shutil.copytree(
        PACKAGE,
        work / "source",
        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"),
    )
    target = work / "site"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"]
    built = subprocess.run(
        [*pip, "--no-build-isolation", "--target", str(target), str(source)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr
    return target


def python(site: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site), "WEBHOOK_SECRET": "whsec-check-5e1a"}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_webhook_type_is_discovered_through_the_entry_point(site: Path) -> None:
    found = python(
        site,
        "-c",
        "import inspect, json; from hub.connector import connector_types; "
        "cls = connector_types()['webhook']; "
        "print(json.dumps([cls.__module__, cls.__name__, inspect.getfile(cls)]))",
    )
    assert found.returncode == 0, found.stderr
    module, name, path = json.loads(found.stdout)
    assert (module, name) == ("lgsp_connector_webhook", "WebhookConnector")
    assert Path(path).is_relative_to(site)  # the installed copy, not the sources


def test_the_package_passes_the_shipped_contract_suite(site: Path, tmp_path: Path) -> None:
    tests = shutil.copytree(PACKAGE / "tests", tmp_path / "tests")
    run = python(site, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests), cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    contract = [name for name in dir(ConnectorContract) if name.startswith("test_")]
    passed = re.search(r"(\d+) passed", run.stdout)
    assert passed and int(passed.group(1)) >= len(contract) + 2, run.stdout[-500:]


def test_check_passes_against_a_partner_and_shows_no_secret(site: Path) -> None:
    script = (
        "import json\n"
        "from hub.connector import connector_type\n"
        "from sandbox.rest_sink import RestSink\n"
        "with RestSink() as sink:\n"
        "    hook = connector_type('webhook')('hook', {'url': sink.url + '/hooks',\n"
        "                                              'secret_env': 'WEBHOOK_SECRET'})\n"
        "    print(json.dumps([r.as_dict() for r in hook.check()]))\n"
    )
    run = python(site, "-c", script)
    assert run.returncode == 0, run.stderr
    results = json.loads(run.stdout)
    assert {r["name"] for r in results} == {"secret", "dns", "connect", "request", "auth"}
    assert all(r["status"] == "ok" for r in results), results
    assert "whsec-check-5e1a" not in run.stdout


def test_the_package_imports_only_the_connector_seam_of_the_hub() -> None:
    for path in (PACKAGE / "src").rglob("*.py"):
        from_hub = {m for m in _imports(path) if m == "hub" or m.startswith("hub.")}
        assert from_hub <= CONNECTOR_MAY_IMPORT, f"{path.name} imports {from_hub}"
