"""Requests per second through `make run`'s local server."""

from __future__ import annotations

import time
from typing import Any

from bench.common import summary
from local.container import reset_container


def local_server(requests_total: int, threads: int, auth_mode: str = "IAM") -> dict[str, Any]:
    """Requests per second through the local server; in TOKEN mode each request also runs the authorizer."""
    import concurrent.futures

    import requests

    from local.server import LocalService
    from scheduled_sends.adapters.token_table import TokenStore
    from scheduled_sends.domain import tokens

    reset_container()  # the local runner's own settings, table and secret
    service = LocalService(port=0, log=lambda line: None, scan_seconds=0, parameters={"AuthMode": auth_mode}).start()
    headers = {}
    try:
        if auth_mode == "TOKEN":
            token, record = tokens.new_token("bench", [], now=int(time.time()))
            TokenStore(service.aws_resource("dynamodb").Table(service.refs["TeamTokensTable"])).add(record)
            headers = {"Authorization": f"Bearer {token}"}
        url = f"{service.url}/v3/user/scheduled_sends"

        def worker(count: int) -> list[float]:
            session, samples = requests.Session(), []
            for _ in range(count):
                started = time.perf_counter()
                answer = session.get(url, headers=headers, timeout=10)
                assert answer.status_code == 200, answer.text
                samples.append(time.perf_counter() - started)
            return samples

        worker(20)
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            samples = [s for chunk in pool.map(worker, [requests_total // threads] * threads) for s in chunk]
        elapsed = time.perf_counter() - started
    finally:
        service.stop()
    return {
        "auth_mode": auth_mode,
        "requests": len(samples),
        "threads": threads,
        "rps": round(len(samples) / elapsed, 1),
        **summary(samples),
    }
