"""The committed API contract and cluster config stay true."""

from __future__ import annotations

from pathlib import Path

import yaml

from serve.openapi import DEFAULT_PATH, current_schema, render

ROOT = Path(__file__).resolve().parents[2]


def test_committed_openapi_matches_the_app() -> None:
    committed = DEFAULT_PATH.read_text(encoding="utf-8")
    assert committed == render(current_schema()), (
        "docs/openapi.json is out of date with the app: run `make openapi` and commit it"
    )


def test_contract_has_the_foundation_routes_and_one_error_shape() -> None:
    schema = current_schema()
    for path in (
        "/health",
        "/me",
        "/leads",
        "/leads/{lead_id}",
        "/threads",
        "/messages",
        "/deals",
        "/deals/{deal_id}/win",
        "/admin/rls/test",
    ):
        assert path in schema["paths"], path
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            for status in ("401", "422", "429"):
                ref = op["responses"].get(status, {}).get("content", {}).get("application/json", {}).get("schema")
                if ref is not None:
                    assert ref == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)


def test_cluster_yaml_is_a_valid_ray_cluster_config() -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = prepare_config(yaml.safe_load((ROOT / "cluster.yaml").read_text()))
    validate_config(config)
    types = config["available_node_types"]
    assert {"head", "cpu_worker", "gpu_worker"} <= set(types)
    assert types["gpu_worker"]["resources"].get("GPU") == 1
    assert types["gpu_worker"]["min_workers"] == 0  # optional
