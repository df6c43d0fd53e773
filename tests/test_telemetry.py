"""jtop telemetry: the real absent path here, parsing of recorded jtop 3.x / 4.x shapes, polling."""
import logging
import time

import pytest

from edge.service import telemetry
from edge.service.telemetry import Telemetry, parse_clocks, parse_jetson, parse_power, parse_stats, parse_temperature

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


# ---- recorded shapes of each jetson-stats generation on a Jetson Nano (issue 14) ----
# jetson-stats 3.1.x (JetPack 4.6), as its service builds them (jtop/core/tegra_parse.py, jtop/service.py
# tegra_stats) from the tegrastats line "RAM 2458/3964MB (lfb 25x4MB) ... CPU [12%@1479,30%@1479,off,8%@1479]
# EMC_FREQ 3%@1600 GR3D_FREQ 55%@921 APE 25 PLL@40C CPU@41.5C PMIC@100C GPU@39C AO@47C thermal@40.25C
# POM_5V_IN 4100/3900 POM_5V_GPU 500/480 POM_5V_CPU 1300/1200": frequencies in kHz ("frq"), an offline core
# without "val"/"frq", rails renamed without POM_, "5V IN" taken as the total, PMIC dropped, jetson_clocks'
# min/max/governor merged in, RAM from /proc/meminfo in kB (stats["RAM"] is the kB used).
MODEL = "ARMv8 Processor rev 1 (v8l)"
CPU_3 = {"CPU{}".format(i): dict(val=v, frq=1479000, min_freq=102000, max_freq=1479000, governor="schedutil",
                                 model=MODEL) for i, v in ((1, 12), (2, 30), (4, 8))}
CPU_3["CPU3"] = {"model": MODEL}
GPU_3 = {"val": 55, "frq": 921000, "min_freq": 76800, "max_freq": 921600}
RAM_3 = {"use": 2517000, "tot": 4059000, "unit": "k", "lfb": {"nblock": 25, "size": 4, "unit": "M"}}
POWER_3_NANO = ({"cur": 4100, "avg": 3900}, {"5V GPU": {"cur": 500, "avg": 480}, "5V CPU": {"cur": 1300, "avg": 1200}})
TEMP_3_NANO = {"PLL": 40.0, "CPU": 41.5, "GPU": 39.0, "AO": 47.0, "thermal": 40.25}
STATS_3 = {"time": None, "uptime": None, "jetson_clocks": "OFF", "nvp model": "MAXN", "CPU1": 12, "CPU2": 30,
           "CPU3": "OFF", "CPU4": 8, "GPU": 55, "MTS FG": 0, "MTS BG": 0, "RAM": 2517000, "EMC": 2517000, "SWAP": 0,
           "APE": 25, "NVENC": "OFF", "NVDEC": "OFF", "NVJPG": "OFF", "fan": 0.0, "Temp AO": 47.0, "Temp CPU": 41.5,
           "Temp GPU": 39.0, "Temp PLL": 40.0, "Temp thermal": 40.25, "power cur": 4100, "power avg": 3900}
# jetson-stats 4.2.x: cpu = {"total", "cpu": [...]} with an offline core as {"online": False} only (plus its model);
# gpu = {name: {"type", "status", "freq": {"governor", "cur", "max", "min"}}} in kHz; stats["RAM"] a fraction.
CORE_4 = {"online": True, "governor": "schedutil", "freq": {"min": 102000, "max": 1479000, "cur": 1428000},
          "info_freq": {"min": 102000, "max": 1479000, "cur": 1428000}, "idle_state": {"WFI": 1, "c7": 1},
          "user": 10.0, "nice": 0.0, "system": 2.0, "idle": 88.0, "model": MODEL}
CPU_4_2 = {"total": {"user": 10.0, "nice": 0.0, "system": 2.0, "idle": 88.0},
           "cpu": [CORE_4, dict(CORE_4), {"online": False, "model": MODEL}, dict(CORE_4)]}
GPU_4_2 = {"gpu": {"type": "integrated", "status": {"railgate": False, "tpc_pg_mask": False, "3d_scaling": True,
                                                    "load": 55.0},
                   "freq": {"governor": "nvhost_podgov", "cur": 921600, "max": 921600, "min": 76800},
                   "power_control": "auto"}}
STATS_4_2 = {k: v for k, v in dict(STATS_4, CPU1=12, CPU2=30, CPU3="OFF", CPU4=8, RAM=0.62).items() if k != "CPU10"}


class Jtop3:
    """jetson-stats 3.1.x's client: power a (total, rails) tuple, ram a property, no memory."""

    def __init__(self):
        self.stats, self.power, self.temperature = STATS_3, POWER_3_NANO, TEMP_3_NANO
        self.cpu, self.gpu, self.ram = CPU_3, GPU_3, RAM_3


class Jtop4:
    """jetson-stats 4.2.x's client (no ``ram``: its memory is ``jetson.memory``)."""

    def __init__(self):
        self.stats, self.power, self.temperature, self.cpu, self.gpu = STATS_4_2, POWER_4, TEMP_4, CPU_4_2, GPU_4_2


@pytest.mark.parametrize("jetson,expected", [
    (Jtop3(), {"cpu_load": [12.0, 30.0, 8.0], "gpu_load": 55.0, "ram": 0.6201, "nvpmodel": "MAXN",
               "jetson_clocks": "OFF", "power": {"total_mw": 4100.0, "rails_mw": {"5V GPU": 500.0, "5V CPU": 1300.0}},
               "temperature_c": TEMP_3_NANO, "clocks": {"cpu_mhz": [1479.0, 1479.0, 1479.0], "gpu_mhz": 921.0}}),
    (Jtop4(), {"cpu_load": [12.0, 30.0, 8.0], "gpu_load": 55.0, "ram": 0.62, "nvpmodel": "MAXN",
               "jetson_clocks": "ON", "power": {"total_mw": 4500.0, "rails_mw": {"POM_5V_GPU": 600.0,
                                                                                "POM_5V_CPU": 1500.0}},
               "temperature_c": {"CPU": 41.5, "GPU": 39.0, "thermal": 40.25},
               "clocks": {"cpu_mhz": [1428.0, 1428.0, 1428.0], "gpu_mhz": 921.6}}),
], ids=["jetson-stats-3.1", "jetson-stats-4.2"])
def test_parse_jetson_of_each_jetson_stats_generation(jetson, expected):
    sample = parse_jetson(jetson)
    assert {k: v for k, v in sample.items() if k != "time"} == expected


@pytest.mark.parametrize("cpu,gpu,expected", [
    (CPU_3, GPU_3, {"cpu_mhz": [1479.0, 1479.0, 1479.0], "gpu_mhz": 921.0}),
    (CPU_4_2, GPU_4_2, {"cpu_mhz": [1428.0, 1428.0, 1428.0], "gpu_mhz": 921.6}),
    ({"CPU1": {}, "CPU2": {"val": 5}}, {"val": 0}, {"cpu_mhz": [], "gpu_mhz": None}),  # 3.x without frequencies
    ({"cpu": [{"online": True, "freq": {"min": 1}}]}, {"gpu": {"freq": {}}}, {"cpu_mhz": [], "gpu_mhz": None}),
    ("not a dict", 3, {"cpu_mhz": [], "gpu_mhz": None}),
])
def test_parse_clocks_of_both_versions(cpu, gpu, expected):
    assert parse_clocks(cpu, gpu) == expected


@pytest.mark.parametrize("stats,ram,expected", [
    (STATS_3, RAM_3, 0.6201), (STATS_3, None, None), (STATS_3, {"use": 1, "tot": 0}, None), (STATS_4_2, None, 0.62)])
def test_ram_fraction_of_both_versions(stats, ram, expected):
    assert parse_stats(stats, ram)["ram"] == expected


def test_jtop_that_stops_sending_data_is_reported_and_telemetry_ends(caplog, monkeypatch):
    """jtop's ok() waits 3 intervals for data, then returns False for good: telemetry says so once,
    ``available`` turns False and the summary keeps the samples and says why it stopped."""
    class Stalling(FakeJtop):
        oks = 0

        def ok(self):
            Stalling.oks += 1
            return Stalling.oks <= 3

    with caplog.at_level(logging.WARNING, logger="edge.service.telemetry"):
        tm = Telemetry(interval=0.01, factory=Stalling).start()
        deadline = time.time() + 5
        while tm.available and time.time() < deadline:
            time.sleep(0.01)
        assert not tm.available
        tm._thread.join(timeout=2)
        assert not tm._thread.is_alive()  # the polling thread ended
        calls = Stalling.oks
        time.sleep(0.05)
        assert Stalling.oks == calls  # nothing polls a stopped jtop
        tm.stop()
    s = tm.summary()
    assert s["available"] and s["samples"] == 3
    assert s["stopped"] == tm.reason == ("jtop sent no data for 0.03 s (3 intervals); its service stalled or was "
                                         "restarted")
    lines = [r.getMessage() for r in caplog.records if r.name == "edge.service.telemetry"]
    assert lines == ["telemetry stopped after 3 samples: " + s["stopped"]]
