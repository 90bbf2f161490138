"""The alert rules (ops/prometheus/alerts.yml) are valid, behave as their unit tests say
(``promtool test rules``), and only use metric names the gateway really exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from serve.metrics import GatewayMetrics

RULES_DIR = Path(__file__).resolve().parents[2] / "ops" / "prometheus"


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    assert exe, "promtool is missing: run `make system-deps` (Debian package prometheus)"
    return subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_rules_are_valid_and_pass_their_promtool_unit_tests() -> None:
    check = _promtool("check", "rules", "alerts.yml", cwd=RULES_DIR)
    assert check.returncode == 0, check.stdout + check.stderr
    run = _promtool("test", "rules", "alerts_test.yml", cwd=RULES_DIR)
    assert run.returncode == 0, run.stdout + run.stderr


def test_a_broken_threshold_fails_the_promtool_tests(tmp_path: Path) -> None:
    """The harness can fail: the queue-lag rule at 10 min instead of 3 breaks its test."""
    rules = (RULES_DIR / "alerts.yml").read_text(encoding="utf-8")
    broken = rules.replace("(tridium_stream_lag_seconds) > 180", "(tridium_stream_lag_seconds) > 600")
    assert broken != rules
    (tmp_path / "alerts.yml").write_text(broken, encoding="utf-8")
    shutil.copy(RULES_DIR / "alerts_test.yml", tmp_path / "alerts_test.yml")
    run = _promtool("test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert run.returncode != 0
    assert "TridiumQueueLagHigh" in run.stdout + run.stderr


def test_rules_cover_the_seed_list_and_use_exported_metrics() -> None:
    doc = yaml.safe_load((RULES_DIR / "alerts.yml").read_text(encoding="utf-8"))
    rules = [r for g in doc["groups"] for r in g["rules"]]
    assert {r["alert"] for r in rules} == {
        "TridiumHighErrorRate",
        "TridiumApiLatencyP95High",
        "TridiumQueueLagHigh",
        "TridiumWebhookRetriesHigh",
        "TridiumRagSearchP95High",
        "TridiumOutboxLagHigh",
        "TridiumDeadLetters",
    }
    registry = GatewayMetrics().registry
    exported: set[str] = set()
    for family in registry.collect():
        exported.add(family.name)
        exported.update(s.name for s in family.samples)
    # Histograms/counters with no observation yet still declare their sample names.
    for collector in list(registry._collector_to_names):
        exported.update(registry._collector_to_names[collector])
    used = {m for r in rules for m in re.findall(r"\btridium_[a-z_]+", r["expr"])}
    assert used, "no metric names found in the rules"
    assert used <= exported, f"rules use metrics the gateway does not export: {sorted(used - exported)}"
