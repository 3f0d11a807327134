"""What Lambda gives a function: its runtime's environment variables and the layer as `sam build` makes it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.common import LAYER


def lambda_environment(function: str, code_dir: Path, aws_endpoint_url: str, xray_address: str) -> dict[str, str]:
    """What Lambda's python3.13 runtime sets for a function (before the template's own variables)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PYTHONDONTWRITEBYTECODE": "1",  # code and layers are read-only on Lambda: no .pyc is ever written there
        "LAMBDA_TASK_ROOT": str(code_dir),
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "_HANDLER": "app.lambda_handler",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",  # not restored from a SnapStart snapshot: the worst case
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        "AWS_XRAY_DAEMON_ADDRESS": xray_address,
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_ENDPOINT_URL": aws_endpoint_url,  # the emulator: a moto server in this process's thread
    }


def built_layer(workdir: Path, bytecode: bool = True) -> Path:
    """The layer's /opt/python as `sam build` makes it (layers/shared/Makefile): this package compiled to
    hash-based .pyc files that are never checked against the source, and botocore with only the models of the
    services the code calls (aws-services.txt). Its other requirements are the ones installed here, with the
    bytecode pip compiled at install (the Makefile compiles the layer's copies the same way).
    `bytecode=False`: source only, as SAM's python3.13 build method shipped it."""
    import compileall
    import py_compile
    import shutil

    import botocore

    layer = workdir / "opt-python"
    shutil.rmtree(layer, ignore_errors=True)
    shutil.copytree(LAYER / "scheduled_sends", layer / "scheduled_sends", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(Path(botocore.__file__).parent, layer / "botocore", ignore=shutil.ignore_patterns("__pycache__"))
    prune = [sys.executable, str(LAYER / "prune_botocore.py"), str(LAYER / "aws-services.txt")]
    subprocess.run([*prune, str(layer / "botocore" / "data")], check=True)  # as the Makefile runs it
    if bytecode:
        compileall.compile_dir(
            layer, quiet=1, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH, workers=1
        )
    return layer
