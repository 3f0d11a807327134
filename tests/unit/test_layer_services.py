"""The layer ships botocore with only the models of the services its code calls (layers/shared/aws-services.txt,
applied by prune_botocore.py when the layer is built): every service the code makes a client for is listed, and
the pruning keeps exactly the listed ones and botocore's shared files."""

from __future__ import annotations

import re
import runpy
import subprocess
import sys
from pathlib import Path

import botocore

from tests.support import ROOT

LAYER = ROOT / "layers" / "shared"
SERVICES_FILE = LAYER / "aws-services.txt"
_CLIENT_OF = re.compile(r"""(?:aws_client\(\s*\w+\s*,\s*|\.client\(\s*(?:service_name\s*=\s*)?)["']([a-z0-9-]+)["']""")


def _listed() -> set[str]:
    listed_services = runpy.run_path(str(LAYER / "prune_botocore.py"))["listed_services"]
    return listed_services(SERVICES_FILE)


def test_every_service_the_layer_makes_a_client_for_is_listed() -> None:
    named = {
        service
        for source in (LAYER / "scheduled_sends").rglob("*.py")
        for service in _CLIENT_OF.findall(source.read_text())
    }
    assert named == {"dynamodb", "events", "secretsmanager"}  # the search finds what it is meant to find
    assert named <= _listed()


def test_every_listed_service_is_one_botocore_has() -> None:
    data = Path(botocore.__file__).parent / "data"
    assert all((data / service).is_dir() for service in _listed())


def _prune(services: str, data: Path) -> subprocess.CompletedProcess[str]:
    services_file = data.parent / "services.txt"
    services_file.write_text(services)
    script = LAYER / "prune_botocore.py"
    return subprocess.run([sys.executable, str(script), str(services_file), str(data)], capture_output=True, text=True)


def test_pruning_keeps_the_listed_services_and_the_shared_files_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for service in ("dynamodb", "ec2", "events", "s3"):
        (data / service / "2020-01-01").mkdir(parents=True)
        (data / service / "2020-01-01" / "service-2.json.gz").write_bytes(b"model")
    (data / "endpoints.json").write_text("{}")

    result = _prune("# comment\ndynamodb  # inline\n\nevents\n", data)

    assert result.returncode == 0, result.stderr
    assert sorted(entry.name for entry in data.iterdir()) == ["dynamodb", "endpoints.json", "events"]
    assert (data / "dynamodb" / "2020-01-01" / "service-2.json.gz").read_bytes() == b"model"


def test_a_listed_service_botocore_lacks_fails_the_build_and_removes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for service in ("dynamodb", "ec2"):
        (data / service).mkdir(parents=True)

    result = _prune("dynamodb\ndynamodbb\n", data)

    assert result.returncode != 0
    assert "dynamodbb" in result.stderr
    assert sorted(entry.name for entry in data.iterdir()) == ["dynamodb", "ec2"]
