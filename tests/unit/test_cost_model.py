"""The cost model (`make cost`): its arithmetic on hand-made inputs, its inputs' sources, and the docs page it
writes."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from cost import __main__ as command
from cost.model import (
    HERE,
    OPERATIONS,
    SIZES,
    Measured,
    Size,
    TemplateFacts,
    estimate,
    load_measured,
    markdown,
    monthly_cost,
    template_facts,
)

PRICES = json.loads((HERE / "prices.json").read_text())
WORKLOAD = json.loads((HERE / "workload.json").read_text())
FACTS = TemplateFacts(
    memory_gb=0.5,
    functions=8,
    scan_runs_per_day=288,
    scan_concurrency=8,
    reconcile_active_seconds=900,
    reconcile_idle_seconds=21600,
    log_retention_days=30,
    archive_retention_days=365,
    custom_metrics=10,
    alarm_metrics=20,
    dashboards=1,
)
NOTHING = {"reads": 0, "writes": 0}
MEASURED = Measured(
    reads_per_request=dict.fromkeys(OPERATIONS, 1.0),
    writes_per_request=dict.fromkeys(OPERATIONS, 1.0),
    handler_ms=dict.fromkeys(OPERATIONS, 10.0),
    scanner_reads={"per_run": 10, "per_due_row": 1, "per_reconcile": 2, "per_account_per_run": 0},
    scanner_writes={"per_run": 0, "per_due_row": 1, "per_reconcile": 1, "per_account_per_run": 0},
    sources={},
)


def _only(price: str) -> dict:
    """The prices with every one at zero but `price`."""
    return {**PRICES, "prices": {k: {**v, "usd": v["usd"] if k == price else 0.0} for k, v in PRICES["prices"].items()}}


def test_api_gateway_is_requests_per_change_times_changes_times_the_price() -> None:
    size = Size("t", teams=1, accounts=10, changes_per_day=1000)
    terms = monthly_cost(size, MEASURED, _only("api_gateway_rest_request"), WORKLOAD, FACTS)
    per_change = sum(WORKLOAD["requests_per_change"]["value"].values())  # 3.0
    expected = 1000 * WORKLOAD["days_per_month"] * per_change * 3.5e-06
    assert terms["API Gateway requests"] == pytest.approx(expected)
    assert sum(terms.values()) == pytest.approx(expected)  # every other price is zero


def test_dynamodb_writes_count_the_api_the_scanners_due_rows_and_its_reconciles() -> None:
    size = Size("t", teams=1, accounts=100, changes_per_day=1000)
    terms = monthly_cost(size, MEASURED, _only("dynamodb_write_request_unit"), WORKLOAD, FACTS)
    days, seconds = WORKLOAD["days_per_month"], WORKLOAD["days_per_month"] * 86400
    api = 1000 * days * 3.0 * 1.0
    due_rows = 1000 * days * 2 * 1.0
    reconciles = (20 * seconds / 900 + 80 * seconds / 21600) * 1.0  # 20% of accounts hold slots
    assert terms["DynamoDB writes"] == pytest.approx((api + due_rows + reconciles) * 2 * 6.25e-07)


def test_fixed_terms_do_not_move_with_traffic_and_request_terms_scale_with_it() -> None:
    small, ten_times = Size("a", 5, 20, 500), Size("b", 5, 20, 5000)
    one = monthly_cost(small, MEASURED, PRICES, WORKLOAD, FACTS)
    ten = monthly_cost(ten_times, MEASURED, PRICES, WORKLOAD, FACTS)
    for fixed in (
        "CloudWatch custom metrics",
        "CloudWatch alarms",
        "CloudWatch dashboard",
        "DynamoDB stream reads (pipe)",
    ):
        assert one[fixed] == ten[fixed] > 0
    for scaled in ("API Gateway requests", "EventBridge events", "EventBridge Pipes"):  # (Lambda's: the scanner too)
        assert ten[scaled] > 9 * one[scaled] > 0
    assert one["CloudWatch alarms"] == pytest.approx(20 * 0.10)
    assert one["CloudWatch dashboard"] == pytest.approx(3.0)


def test_log_storage_follows_the_retention_parameter() -> None:
    size = SIZES[1]
    month = monthly_cost(size, MEASURED, PRICES, WORKLOAD, FACTS)["CloudWatch Logs storage"]
    year = monthly_cost(size, MEASURED, PRICES, WORKLOAD, replace(FACTS, log_retention_days=365))
    assert year["CloudWatch Logs storage"] == pytest.approx(month * 365 / 30)


def test_every_price_has_a_unit_a_date_and_a_source_and_every_term_is_priced() -> None:
    for name, price in PRICES["prices"].items():
        assert price["usd"] > 0 and price["unit"] and re.fullmatch(r"\d{4}-\d{2}-\d{2}", price["date"]), name
        assert price["source"].startswith("https://aws.amazon.com/"), name
    assert PRICES["region"] == "us-east-1"
    terms = monthly_cost(SIZES[0], MEASURED, PRICES, WORKLOAD, FACTS)
    assert all(value > 0 for value in terms.values()), terms


def test_the_template_decides_memory_schedule_retention_metrics_and_alarms() -> None:
    facts = template_facts()
    assert (facts.memory_gb, facts.scan_runs_per_day, facts.log_retention_days) == (0.5, 288, 30)
    assert facts.functions >= 8 and facts.custom_metrics > 20 and facts.alarm_metrics > 8


def test_bench_results_are_preferred_and_the_committed_figures_fill_in(tmp_path: Path) -> None:
    committed = load_measured(tmp_path / "absent.json")
    assert "bench" in committed.sources["api"] and committed.reads_per_request["get_scheduled_send"] == 1.0
    warm = {
        op: {
            "dynamodb_calls_per_request": {"GetItem": 3.0, "UpdateItem": 2.0},
            "handler_without_dynamodb": {"median_ms": 4.0},
        }
        for op in OPERATIONS
    }
    scanner = {"1000": {"due_rows": 10, "calls": {"GetItem": 10, "Query": 11, "UpdateItem": 31}, "total": 52}}
    bench = tmp_path / "bench-results.json"
    bench.write_text(json.dumps({"warm_overhead": warm, "dynamodb_calls_per_scanner_run": scanner}))
    fresh = load_measured(bench)
    assert fresh.reads_per_request == dict.fromkeys(OPERATIONS, 3.0)
    assert fresh.writes_per_request == dict.fromkeys(OPERATIONS, 2.0)
    assert fresh.handler_ms == dict.fromkeys(OPERATIONS, 4.0)
    # The run's own calls (committed: 11 reads, 1 write) taken off, the rest per due row.
    assert (fresh.scanner_reads["per_due_row"], fresh.scanner_writes["per_due_row"]) == (1.0, 3.0)
    assert fresh.sources["api"].startswith("bench-results.json")
    assert fresh.scanner_reads["per_reconcile"] == committed.scanner_reads["per_reconcile"]  # not in the bench


def test_each_size_names_its_largest_term() -> None:
    result = estimate(command.NO_BENCH)
    assert list(result["sizes"]) == ["small", "medium", "large"]
    for size in result["sizes"].values():
        terms = size["terms_usd"]
        assert size["dominant_term"] == max(terms, key=terms.__getitem__)
        assert size["total_usd"] == pytest.approx(sum(terms.values()), abs=0.05)
    totals = [s["total_usd"] for s in result["sizes"].values()]
    assert totals == sorted(totals)


def test_the_docs_page_shows_the_commands_table_and_says_which_term_dominates() -> None:
    result = estimate(command.NO_BENCH)
    page = command.DOCS.read_text()
    assert command.docs_with_table(page, markdown(result)) == page, "run `make cost` to update the page"
    # One bullet per size ("- **Small (...": to the next bullet or blank line), naming its largest term.
    found = re.findall(r"^- \*\*((?:Small|Medium|Large) .*?)(?=\n- |\n\n)", page, re.M | re.S)
    prose = {text.split(" ", 1)[0].lower(): " ".join(text.split()) for text in found}
    assert set(prose) == {"small", "medium", "large"}
    for name, size in result["sizes"].items():
        assert size["dominant_term"] in prose[name], name
