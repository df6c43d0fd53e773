"""Jetson telemetry through jtop (jetson-stats): power, temperatures, loads, power mode, clocks.

    with Telemetry(interval=1.0) as tm:      # polls in a background thread
        run_benchmark()
    tm.summary()   # {"available": True, "samples": 12, "power_mw": {"mean": ..., "max": ...}, ...}
    tm.last        # the latest sample (see ``parse_jetson``), or None

Without jetson-stats or its service (any machine that is not a set-up Jetson), ``Telemetry`` logs
"telemetry not available: <why>" once per process and carries on: ``available`` is False,
``summary()`` says why. Parsing is pure functions over the dicts jtop returns, for both jtop 3.x
(``power`` = (total, rails); temperatures as plain numbers) and 4.x (``power = {"rail", "tot"}``;
temperatures as ``{"temp", "online"}``).
"""
import logging
import re
import threading
import time
from typing import Any, Dict, List, Mapping, Optional

log = logging.getLogger("edge.service.telemetry")
_WARNED = []


def _num(v) -> Optional[float]:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def parse_power(power) -> Dict[str, Any]:
    """{"total_mw": float or None, "rails_mw": {rail: mW}} from ``jetson.power`` (3.x tuple or 4.x dict)."""
    if not power:
        return {"total_mw": None, "rails_mw": {}}
    if isinstance(power, (tuple, list)):  # jtop 3.x: (total {"cur", "avg"}, {rail: {"cur", "avg"}})
        total, rails = power[0], power[1] if len(power) > 1 else {}
        return {"total_mw": _num(total.get("cur")),
                "rails_mw": {k: _num(v.get("cur")) for k, v in rails.items()}}
    rails = {k: _num(v.get("power")) for k, v in power.get("rail", {}).items() if v.get("online", True)}
    return {"total_mw": _num(power.get("tot", {}).get("power")), "rails_mw": rails}


def parse_temperature(temps: Mapping) -> Dict[str, float]:
    """{sensor: °C} from ``jetson.temperature``; offline sensors (4.x reports -256) are left out."""
    out = {}
    for name, v in (temps or {}).items():
        if isinstance(v, Mapping):
            if not v.get("online", True):
                continue
            v = v.get("temp")
        t = _num(v)
        if t is not None and t > -256:
            out[name] = t
    return out


def parse_stats(stats: Mapping) -> Dict[str, Any]:
    """Loads, power mode and jetson_clocks from the flat ``jetson.stats`` dict (3.x and 4.x keys)."""
    cpu = [_num(stats[k]) for k in sorted((k for k in stats if re.match(r"CPU\d+$", k)), key=lambda k: int(k[3:]))]
    return {"cpu_load": [c for c in cpu if c is not None],  # percent per online core
            "gpu_load": _num(stats.get("GPU")),  # percent
            "ram": _num(stats.get("RAM")),  # used fraction (4.x)
            "nvpmodel": stats.get("nvp model"),
            "jetson_clocks": stats.get("jetson_clocks")}


def parse_clocks(cpu: Any, gpu: Any) -> Dict[str, Any]:
    """Current clocks in MHz from ``jetson.cpu`` / ``jetson.gpu`` (4.x: frequencies in kHz)."""
    out = {"cpu_mhz": [], "gpu_mhz": None}
    try:
        out["cpu_mhz"] = [round(c["freq"]["cur"] / 1000.0, 1) for c in cpu["cpu"] if c.get("online", True)]
    except (KeyError, TypeError):
        pass
    try:
        first = next(iter(gpu.values()))
        out["gpu_mhz"] = round(first["freq"]["cur"] / 1000.0, 1)
    except (AttributeError, KeyError, TypeError, StopIteration):
        pass
    return out


def parse_jetson(jetson) -> Dict[str, Any]:
    """One sample from a running ``jtop`` object (every field optional, jtop versions differ)."""
    sample = {"time": time.time()}
    sample.update(parse_stats(getattr(jetson, "stats", None) or {}))
    sample["power"] = parse_power(getattr(jetson, "power", None))
    sample["temperature_c"] = parse_temperature(getattr(jetson, "temperature", None) or {})
    sample["clocks"] = parse_clocks(getattr(jetson, "cpu", None), getattr(jetson, "gpu", None))
    if sample["nvpmodel"] is None and getattr(jetson, "nvpmodel", None) is not None:
        sample["nvpmodel"] = str(getattr(jetson.nvpmodel, "name", jetson.nvpmodel))
    if sample["jetson_clocks"] is None and getattr(jetson, "jetson_clocks", None) is not None:
        sample["jetson_clocks"] = "ON" if jetson.jetson_clocks else "OFF"
    return sample


def summarize_samples(samples: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Mean/max board power, max temperatures, mean loads over a run, and the power mode."""
    def stat(values):
        values = [v for v in values if v is not None]
        return {"mean": sum(values) / len(values), "max": max(values)} if values else None

    temps = {}
    for s in samples:
        for k, v in s["temperature_c"].items():
            temps[k] = max(v, temps.get(k, v))
    last = samples[-1] if samples else {}
    return {"available": True, "samples": len(samples),
            "power_mw": stat([s["power"]["total_mw"] for s in samples]),
            "temperature_max_c": temps,
            "gpu_load": stat([s["gpu_load"] for s in samples]),
            "cpu_load": stat([sum(s["cpu_load"]) / len(s["cpu_load"]) if s["cpu_load"] else None for s in samples]),
            "nvpmodel": last.get("nvpmodel"), "jetson_clocks": last.get("jetson_clocks"),
            "clocks": last.get("clocks")}


class Telemetry:
    """Context manager polling jtop every ``interval`` seconds; harmless where jtop is unavailable."""

    def __init__(self, interval: float = 1.0, factory=None):
        self.interval = interval
        self._factory = factory  # callable(interval) → jtop-like object; default jtop.jtop
        self._jetson = None
        self._thread = None
        self._stop = threading.Event()
        self.samples = []  # type: List[Dict[str, Any]]
        self.reason = ""  # why telemetry is not available ("" when it is)

    @property
    def available(self) -> bool:
        return self._jetson is not None

    @property
    def last(self) -> Optional[Dict[str, Any]]:
        return self.samples[-1] if self.samples else None

    def start(self) -> "Telemetry":
        try:
            factory = self._factory
            if factory is None:
                from jtop import jtop as factory
            jetson = factory(interval=self.interval)
            jetson.start()
            self._jetson = jetson
        except ImportError:
            self._unavailable("jetson-stats is not installed (`pip install jetson-stats`, Jetson only)")
        except Exception as e:  # JtopException without the jtop service, or any other failure
            self._unavailable("{}: {}".format(type(e).__name__, " ".join(str(e).split())))
        if self._jetson is not None:
            self.poll()
            self._thread = threading.Thread(target=self._loop, name="edge-telemetry", daemon=True)
            self._thread.start()
        return self

    def _unavailable(self, reason: str) -> None:
        self.reason = reason
        if not _WARNED:
            _WARNED.append(reason)
            log.warning("telemetry not available: %s", reason)

    def poll(self) -> Optional[Dict[str, Any]]:
        """Take one sample now (None when unavailable or jtop has lost its service)."""
        jetson = self._jetson
        if jetson is None:
            return None
        try:
            if not jetson.ok():
                return None
            sample = parse_jetson(jetson)
        except Exception as e:
            self.stop()
            self._unavailable("jtop stopped: {}".format(" ".join(str(e).split())))
            return None
        self.samples.append(sample)
        return sample

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            if self.poll() is None and self._jetson is None:
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5 * self.interval + 1)
        jetson, self._jetson = self._jetson, None
        if jetson is not None:
            try:
                jetson.close()
            except Exception:  # closing a dead connection: nothing left to do
                pass

    def summary(self) -> Dict[str, Any]:
        if not self.samples:
            return {"available": False, "reason": self.reason or "no samples"}
        return summarize_samples(self.samples)

    def __enter__(self) -> "Telemetry":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
