"""jtop telemetry: the real absent path here, parsing of recorded jtop 3.x / 4.x shapes, polling."""
import logging
import time

import pytest

from edge.service import telemetry
from edge.service.telemetry import Telemetry, parse_clocks, parse_power, parse_stats, parse_temperature

# Shapes as jtop 4.x returns them on a Jetson Nano (JetPack 4.6), trimmed.
POWER_4 = {"rail": {"POM_5V_GPU": {"online": True, "type": "INA3221", "volt": 5000, "curr": 120, "power": 600,
                                   "avg": 590},
                    "POM_5V_CPU": {"online": True, "type": "INA3221", "volt": 5000, "curr": 300, "power": 1500,
                                   "avg": 1400},
                    "POM_5V_X": {"online": False, "power": 0}},
           "tot": {"volt": 5000, "curr": 900, "power": 4500, "avg": 4300, "name": "POM_5V_IN"}}
TEMP_4 = {"CPU": {"online": True, "temp": 41.5}, "GPU": {"online": True, "temp": 39.0},
          "PMIC": {"online": False, "temp": -256}, "thermal": {"online": True, "temp": 40.25}}
STATS_4 = {"time": None, "uptime": None, "CPU1": 12, "CPU2": 30, "CPU3": "OFF", "CPU4": 8, "CPU10": 1,
           "RAM": 0.41, "SWAP": 0.0, "GPU": 55.0, "Temp CPU": 41.5, "Power TOT": 4500,
           "jetson_clocks": "ON", "nvp model": "MAXN"}
CPU_4 = {"cpu": [{"online": True, "freq": {"cur": 1479000}}, {"online": True, "freq": {"cur": 1479000}},
                 {"online": False, "freq": {"cur": 0}}]}
GPU_4 = {"gpu": {"type": "integrated", "status": {"load": 55.0}, "freq": {"cur": 921600, "max": 921600}}}
# jtop 3.x: power is (total, rails) with cur/avg; temperatures are plain numbers.
POWER_3 = ({"cur": 4100, "avg": 3900}, {"5V GPU": {"cur": 500, "avg": 480}, "5V CPU": {"cur": 1300, "avg": 1200}})
TEMP_3 = {"AO": 42.0, "CPU": 36.5, "PMIC": -256.0}


@pytest.mark.parametrize("power,expected", [
    (POWER_4, {"total_mw": 4500.0, "rails_mw": {"POM_5V_GPU": 600.0, "POM_5V_CPU": 1500.0}}),
    (POWER_3, {"total_mw": 4100.0, "rails_mw": {"5V GPU": 500.0, "5V CPU": 1300.0}}),
    ({}, {"total_mw": None, "rails_mw": {}}),
])
def test_parse_power(power, expected):
    assert parse_power(power) == expected


@pytest.mark.parametrize("temps,expected", [
    (TEMP_4, {"CPU": 41.5, "GPU": 39.0, "thermal": 40.25}),
    (TEMP_3, {"AO": 42.0, "CPU": 36.5}),
])
def test_parse_temperature_drops_offline_sensors(temps, expected):
    assert parse_temperature(temps) == expected


def test_parse_stats_and_clocks():
    s = parse_stats(STATS_4)
    assert s == {"cpu_load": [12.0, 30.0, 8.0, 1.0], "gpu_load": 55.0, "ram": 0.41, "nvpmodel": "MAXN",
                 "jetson_clocks": "ON"}
    assert parse_clocks(CPU_4, GPU_4) == {"cpu_mhz": [1479.0, 1479.0], "gpu_mhz": 921.6}
    assert parse_clocks(None, None) == {"cpu_mhz": [], "gpu_mhz": None}


class FakeJtop:
    """The jtop object's documented surface: start/ok/close and the properties edge reads."""

    def __init__(self, interval=1.0):
        self.interval, self.started, self.closed, self.reads = interval, False, False, 0
        self.power, self.temperature, self.cpu, self.gpu = POWER_4, TEMP_4, CPU_4, GPU_4

    @property
    def stats(self):
        self.reads += 1
        return dict(STATS_4, GPU=10.0 * self.reads)

    def start(self):
        self.started = True

    def ok(self):
        return not self.closed

    def close(self):
        self.closed = True


def test_polling_collects_samples_and_summarises():
    fakes = []

    def factory(interval):
        fakes.append(FakeJtop(interval))
        return fakes[-1]

    with Telemetry(interval=0.01, factory=factory) as tm:
        deadline = time.time() + 5
        while len(tm.samples) < 3 and time.time() < deadline:
            time.sleep(0.01)
    assert tm.available is False and fakes[0].closed  # stopped on exit
    s = tm.summary()
    n = s["samples"]
    assert s["available"] and n >= 3
    assert s["power_mw"] == {"mean": 4500.0, "max": 4500.0}
    assert s["gpu_load"]["max"] == 10.0 * n and s["gpu_load"]["mean"] == pytest.approx(10.0 * (n + 1) / 2)
    assert s["temperature_max_c"]["CPU"] == 41.5
    assert (s["nvpmodel"], s["jetson_clocks"]) == ("MAXN", "ON")
    assert s["clocks"]["gpu_mhz"] == 921.6


def test_absent_jtop_is_reported_once_and_harmless(caplog, monkeypatch):
    """The real path on this machine: jetson-stats without its service (or not installed at all)."""
    monkeypatch.setattr(telemetry, "_WARNED", [])
    with caplog.at_level(logging.WARNING, logger="edge.service.telemetry"):
        with Telemetry(interval=0.05) as first:
            assert first.poll() is None
        with Telemetry(interval=0.05) as second:
            pass
    assert not first.available and not second.available
    assert first.reason and first.summary() == {"available": False, "reason": first.reason}
    try:
        import jtop  # noqa: F401
        assert "jtop.service is not active" in first.reason
    except ImportError:
        assert "jetson-stats is not installed" in first.reason
    warnings = [r for r in caplog.records if r.name == "edge.service.telemetry"]
    assert len(warnings) == 1 and warnings[0].getMessage().startswith("telemetry not available: ")


def test_jtop_losing_its_service_mid_run_stops_quietly(monkeypatch):
    monkeypatch.setattr(telemetry, "_WARNED", [])

    class Dying(FakeJtop):
        def ok(self):
            raise RuntimeError("Lost connection with jtop server")

    tm = Telemetry(interval=0.01, factory=Dying).start()
    assert tm.poll() is None and not tm.available
    assert "Lost connection" in tm.reason
    tm.stop()


def _jtop_service_running():
    try:
        from jtop import jtop

        with jtop() as j:
            return j.ok()
    except Exception:
        return False


@pytest.mark.jetson
@pytest.mark.skipif(not _jtop_service_running(), reason="needs a Jetson board with jetson-stats and its jtop service")
def test_real_jtop_on_a_jetson():
    with Telemetry(interval=0.5) as tm:
        time.sleep(1.5)
    s = tm.summary()
    assert s["available"] and s["samples"] >= 2
    assert s["nvpmodel"] and s["temperature_max_c"] and s["power_mw"]["mean"] > 0
