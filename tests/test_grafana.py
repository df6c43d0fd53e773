"""docs/grafana/edge.json, the Grafana dashboard FLEET.md ships: valid JSON, and every metric and label it
queries is one that edge's /metrics (edge.service.live.LiveState's registry) exports."""
import json
import os
import re

import pytest

from edge.service.live import LiveState

DASHBOARD = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "grafana", "edge.json")
SCRAPE_LABELS = {"device", "instance", "job"}  # set by Prometheus (FLEET.md's scrape config), not by edge


def exported():
    """{sample name: its label names} of a /metrics where every metric has a sample (telemetry too)."""
    state = LiveState(info={"model": "mask_default.onnx", "source": "csi://0"})
    state.publish(b"jpeg", {"ms": {"detect": 3.0}, "labels": ["with_mask"], "faces": 1})
    state.publish(b"jpeg", {"ms": {"detect": 3.0}, "classes": ["person"], "labels": ["without_mask"]})
    state.count_person("with_mask")
    for counter in ("dropped_frames", "reconnects", "decode_errors"):
        state.count(counter)
    state.set_telemetry({"power_w": {"VDD_IN": 5.0}, "temperature_c": {"GPU": 40.0}, "gpu_load": 0.5})
    names = {}
    for line in state.metrics().decode("utf-8").splitlines():
        m = re.match(r"(\w+)(?:\{(.*)\})? ", line)
        if m and not line.startswith("#"):
            names.setdefault(m.group(1), set()).update(re.findall(r"(\w+)=", m.group(2) or ""))
    return names


def queries(dashboard):
    return [t["expr"] for p in dashboard["panels"] for t in p["targets"]]


@pytest.fixture(scope="module")
def dashboard():
    with open(DASHBOARD, encoding="utf-8") as f:
        return json.load(f)


def test_dashboard_is_valid_json_with_a_device_variable(dashboard):
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["device"]["includeAll"]
    assert "edge_" in variables["device"]["definition"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and len(ids) >= 10
    assert all(p["datasource"]["uid"] == "${datasource}" for p in dashboard["panels"])
    for expr in queries(dashboard):
        assert 'device=~"$device"' in expr, expr  # every panel follows the device picker


def test_every_queried_metric_and_label_is_exported(dashboard):
    names = exported()
    used = set()
    for expr in queries(dashboard) + [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]:
        metrics = set(re.findall(r"\bedge_\w+", expr))
        assert metrics, expr
        for metric in metrics:
            assert metric in names, "{} queries {}, which edge does not export ({})".format(
                expr, metric, sorted(names))
        known = set().union(*(names[m] for m in metrics)) | SCRAPE_LABELS
        grouped = {label.strip() for by in re.findall(r"by \(([^)]*)\)", expr) for label in by.split(",")}
        selected = set(re.findall(r"[{,](\w+)=", expr))
        assert grouped | selected <= known, (expr, (grouped | selected) - known)
        used |= metrics
    # the counters people look at first are on the dashboard
    assert {"edge_fps", "edge_people_total", "edge_detections_total", "edge_reconnects_total",
            "edge_stage_latency_seconds_bucket"} <= used


def test_exported_names_are_read_from_the_registry():
    names = exported()
    assert names["edge_people_total"] == {"label"} and "stage" in names["edge_stage_latency_seconds_bucket"]
    assert "edge_no_such_metric" not in names
