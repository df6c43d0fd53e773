"""Jetson telemetry through jtop (jetson-stats): power, temperatures, loads, power mode, clocks.

    with Telemetry(interval=1.0) as tm:      # polls in a background thread
        run_benchmark()
    tm.summary()   # {"available": True, "samples": 12, "power_mw": {"mean": ..., "max": ...}, ...}
    tm.last        # the latest sample (see ``parse_jetson``), or None

Without jetson-stats or its service (any machine that is not a set-up Jetson), ``Telemetry`` logs
"telemetry not available: <why>" once per process and carries on: ``available`` is False,
``summary()`` says why. When jtop stops sending data mid-run (its ``ok()`` turns False for good after 3
intervals without data, or raises), ``Telemetry`` logs "telemetry stopped: <why>", ``available`` turns
False and ``summary()["stopped"]`` says why. Parsing is pure functions over the dicts jtop returns, for
both jetson-stats 3.x (JetPack 4.6: ``power`` = (total, rails) of ``{"cur", "avg"}`` mW; temperatures as
plain numbers; ``cpu`` = ``{"CPU1": {"val", "frq"}}`` and ``gpu`` = ``{"val", "frq"}``, frequencies in kHz;
``stats["RAM"]`` in kB used) and 4.x (``power = {"rail", "tot"}``; temperatures as ``{"temp", "online"}``;
``cpu = {"cpu": [{"online", "freq": {"cur"}}]}`` and ``gpu = {name: {"freq": {"cur"}}}`` in kHz;
``stats["RAM"]`` the used fraction).
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


def _core_names(d: Mapping) -> List[str]:
    """"CPU1", "CPU2", ... among ``d``'s keys, in core order."""
    return sorted((k for k in d if re.match(r"CPU\d+$", str(k))), key=lambda k: int(k[3:]))


def parse_stats(stats: Mapping, ram: Any = None) -> Dict[str, Any]:
    """Loads, power mode and jetson_clocks from the flat ``jetson.stats`` dict (3.x and 4.x keys). The RAM
    fraction is ``stats["RAM"]`` in 4.x; 3.x gives kB used there and ``jetson.ram`` (``ram``: use/tot)."""
    cpu = [_num(stats[k]) for k in _core_names(stats)]
    used = _num(stats.get("RAM"))
    if used is not None and used > 1:  # jtop 3.x: kB in use, not a fraction
        used = _fraction(ram)
    return {"cpu_load": [c for c in cpu if c is not None],  # percent per online core
            "gpu_load": _num(stats.get("GPU")),  # percent
            "ram": used,  # used fraction
            "nvpmodel": stats.get("nvp model"),
            "jetson_clocks": stats.get("jetson_clocks")}


def _fraction(ram: Any) -> Optional[float]:
    try:
        use, tot = float(ram["use"]), float(ram["tot"])
    except (KeyError, TypeError, ValueError):
        return None
    return round(use / tot, 4) if tot > 0 else None


def _mhz(khz: Any) -> Optional[float]:
    v = _num(khz)
    return round(v / 1000.0, 1) if v is not None and v > 0 else None


def _get(d: Any, *keys) -> Any:
    """``d[k1][k2]...`` of dicts (or jtop 4.x's dict-like objects); None where any level is missing."""
    for k in keys:
        try:
            d = d[k]
        except (KeyError, TypeError, IndexError):
            return None
    return d


def parse_clocks(cpu: Any, gpu: Any) -> Dict[str, Any]:
    """Current clocks in MHz from ``jetson.cpu`` / ``jetson.gpu`` (kHz in both versions): 4.x
    ``{"cpu": [{"online", "freq": {"cur"}}]}`` and ``{"gpu": {"freq": {"cur"}}}``; 3.x
    ``{"CPU1": {"val", "frq"}, ...}`` (an offline core has no "frq") and ``{"val", "frq"}``."""
    if isinstance(_get(cpu, "cpu"), list):  # 4.x
        cores = [_get(c, "freq", "cur") for c in cpu["cpu"] if _get(c, "online") is not False]
    elif hasattr(cpu, "keys"):  # 3.x
        cores = [_get(cpu, k, "frq") for k in _core_names(cpu)]
    else:
        cores = []
    if _get(gpu, "frq") is not None:  # 3.x
        gpu_khz = _get(gpu, "frq")
    else:  # 4.x: the first GPU
        gpu_khz = next((_get(g, "freq", "cur") for g in (gpu.values() if hasattr(gpu, "values") else [])), None)
    return {"cpu_mhz": [m for m in (_mhz(c) for c in cores) if m is not None], "gpu_mhz": _mhz(gpu_khz)}


def parse_jetson(jetson) -> Dict[str, Any]:
    """One sample from a running ``jtop`` object (every field optional, jtop versions differ)."""
    sample = {"time": time.time()}
    stats = getattr(jetson, "stats", None) or {}
    sample.update(parse_stats(stats, getattr(jetson, "ram", None)))  # ram: 3.x only
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
        self.stopped = ""  # why jtop stopped mid-run ("" while it runs, or when it never started)

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
            if not jetson.ok():  # jtop waited 3 intervals for data, and now stays off for good
                self._stopped("jtop sent no data for {:g} s (3 intervals); its service stalled or was "
                              "restarted".format(3 * self.interval))
                return None
            sample = parse_jetson(jetson)
        except Exception as e:
            self._stopped("{}: {}".format(type(e).__name__, " ".join(str(e).split())))
            return None
        self.samples.append(sample)
        return sample

    def _stopped(self, reason: str) -> None:
        """jtop stopped mid-run: one log line, ``available`` False, ``summary()["stopped"]`` says why."""
        self.stop()
        self.reason = self.stopped = reason
        log.warning("telemetry stopped after %d samples: %s", len(self.samples), reason)

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
        out = summarize_samples(self.samples)
        if self.stopped:
            out["stopped"] = self.stopped
        return out

    def __enter__(self) -> "Telemetry":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
