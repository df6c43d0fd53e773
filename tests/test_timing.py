import itertools

import pytest

from edge.timing import FpsMeter, StageStats, StageTimer, summarize, time_calls


def test_summarize_known_values():
    s = summarize(range(1, 101))
    assert s["n"] == 100 and s["min"] == 1 and s["max"] == 100 and s["mean"] == 50.5
    assert s["p50"] == pytest.approx(50.5) and s["p99"] == pytest.approx(99.01)
    assert summarize([]) == {"n": 0}


def test_stage_timer_with_a_fake_clock():
    ticks = itertools.count(0.0, 0.010)  # every clock read advances 10 ms
    t = StageTimer(clock=lambda: next(ticks))
    with t.stage("detect"):
        pass
    with t.stage("infer"):
        pass
    with t.stage("detect"):
        pass
    assert list(t.times) == ["detect", "infer"]
    assert t.times["detect"] == pytest.approx(20.0) and t.total() == pytest.approx(30.0)


def test_fps_meter_uses_a_sliding_window():
    m = FpsMeter(window=1.0)
    for i in range(31):
        m.tick(i / 30.0)  # 30 fps for one second
    assert m.fps == pytest.approx(30.0)
    for i in range(1, 11):
        m.tick(1.0 + i / 10.0)  # then 10 fps for one second
    assert m.fps == pytest.approx(10.0, rel=0.15)


def test_stage_stats_bounded():
    s = StageStats(maxlen=10)
    for i in range(100):
        s.add({"infer": float(i)})
    summary = s.summary()["infer"]
    assert summary["n"] == 10 and summary["min"] == 90


def test_time_calls_counts_runs():
    calls = []
    out = time_calls(lambda: calls.append(1), warmup=3, runs=5)
    assert len(out) == 5 and len(calls) == 8
