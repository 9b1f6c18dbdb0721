"""dapr.yaml (the Multi-App Run file `task up` reads) describes exactly the contract's functions."""

from __future__ import annotations

from pathlib import Path

from devstack.up import load_run_file
from taskpulse.contract import Function

REPO = Path(__file__).resolve().parents[2]


def test_one_app_per_function_with_existing_resources() -> None:
    run = load_run_file(REPO / "dapr.yaml")
    assert [app.app_id for app in run.apps] == [f.value for f in Function]
    assert run.scheduler_address
    for app in run.apps:
        assert app.app_dir == REPO / "functions" / app.app_id
        assert app.command[:2] == ["functions-framework", "--source"]
        assert app.resources, app.app_id
        for path in app.resources:
            assert path.is_dir(), path
        assert app.config is not None and app.config.is_file()
        assert app.app_channel_address == "127.0.0.1"


def test_ports_do_not_collide() -> None:
    run = load_run_file(REPO / "dapr.yaml")
    ports = [
        port
        for app in run.apps
        for port in (
            app.app_port,
            app.dapr_http_port,
            app.dapr_grpc_port,
            app.dapr_internal_grpc_port,
            app.metrics_port,
        )
        if port is not None
    ]
    assert len(ports) == len(set(ports))
