"""Layer 4: typed proxies, one method per protocol method, with per-method call statistics."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import psutil

from ..errors import PluginFailure, PluginProtocolError
from ..protocol.framing import DEFAULT_MAX_FRAME, ProtocolViolation
from ..protocol.messages import BatchResult, CandleBatch, Hello, parse_batch_result
from ..protocol.methods import Method
from ..transport.process import COLD, LaunchSpec, Spawner
from .diagnosis import HookErrorReport
from .session import DEFAULT_PARTIAL_FRAME_TIMEOUT, Pending, Session


@dataclass
class Timeouts:
    start: float = 10.0
    call: float = 30.0
    term_grace: float = 2.0
    partial_frame: float = DEFAULT_PARTIAL_FRAME_TIMEOUT


@dataclass
class CallStats:
    """Latencies (seconds) of each protocol method, for summary.json."""

    samples: dict[str, list[float]] = field(default_factory=dict)

    def add(self, method: str, seconds: float) -> None:
        self.samples.setdefault(method, []).append(seconds)

    def summary(self) -> dict[str, dict[str, float]]:
        out = {}
        for method, values in self.samples.items():
            ordered = sorted(values)

            def pct(q: float, ordered: list[float] = ordered) -> float:
                return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e6

            out[method] = {"calls": len(ordered), "p50_us": round(pct(0.5), 1), "p99_us": round(pct(0.99), 1),
                           "total_ms": round(sum(ordered) * 1e3, 3)}
        return out


class PluginProxy:
    def __init__(self, session: Session, hello: Hello, timeouts: Timeouts) -> None:
        self.session = session
        self.hello = hello
        self.name = session.name
        self.timeouts = timeouts
        self.stats = CallStats()
        self._resources: dict[str, float] = {}

    def _call(self, method: str, params: Any, timeout: float | None = None) -> Any:
        started = time.perf_counter()
        try:
            return self.session.request(method, params, timeout=timeout or self.timeouts.call)
        finally:
            self.stats.add(method, time.perf_counter() - started)

    def _notify(self, method: str, params: Any) -> None:
        started = time.perf_counter()
        try:
            self.session.notify(method, params, timeout=self.timeouts.call)
        finally:
            self.stats.add(method, time.perf_counter() - started)

    def _protocol_error(self, exc: ProtocolViolation) -> PluginProtocolError:
        error = PluginProtocolError(f"plugin '{self.name}' sent a malformed result: {exc}", plugin=self.name,
                                    hint="a plugin must answer through a plughost SDK")
        self.session.kill()
        return error

    def initialize(
        self, config: dict[str, Any], run_id: str, *, history: int = 200, size: float = 1.0,
        symbols: Sequence[str] = (),
        rules: dict[str, Any] | None = None, lookahead_check: bool = False,
    ) -> None:
        self._call(Method.INITIALIZE, {"config": config, "run_id": run_id,
                                  "run": {"history": history, "size": size, "symbols": list(symbols),
                                          "rules": rules or {"size": size}, "lookahead_check": lookahead_check}})

    def ping(self, value: Any = None) -> Any:
        return self._call(Method.PING, value)

    def sample_resources(self) -> dict[str, float]:
        """CPU seconds and peak RSS of the plugin's process (call before closing it)."""
        try:
            proc = psutil.Process(self.session.process.main_pid)
            cpu = proc.cpu_times()
            mem = proc.memory_info()
            peak = getattr(mem, "peak_wset", None) or _peak_rss_kb(proc.pid) * 1024 or mem.rss
            self._resources = {"cpu_seconds": round(cpu.user + cpu.system, 4), "peak_rss_mb": round(peak / 2**20, 2)}
        except (psutil.Error, OSError):
            pass
        return self._resources

    @property
    def alive(self) -> bool:
        """The plugin's process is up and has not failed (it can take further calls)."""
        return self.session.alive

    def limit_memory(self, limit_mb: float) -> None:
        """Cap the plugin's memory from now on (`Session.limit_memory`)."""
        self.session.limit_memory(limit_mb)

    def close(self) -> None:
        self.sample_resources()
        self.session.close(self.timeouts.term_grace)

    def kill(self) -> None:
        self.session.kill()

    @property
    def teardown_error(self) -> PluginFailure | None:
        """How the plugin failed its shutdown after the run's results were in (None when it stopped cleanly)."""
        return self.session.teardown_error

    def __enter__(self) -> PluginProxy:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _peak_rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass(frozen=True)
class BatchCall:
    """A `candles` request in flight (`StrategyProxy.send_batch`)."""

    pending: Pending
    batch_len: int
    alert_count: int


class StrategyProxy(PluginProxy):
    def run_batch(self, batch: CandleBatch) -> BatchResult:
        return self.finish_batch(self.send_batch(batch))

    def send_batch(self, batch: CandleBatch, wire: dict[str, Any] | None = None) -> BatchCall:
        """Send a batch without waiting for its answer: the engine sends batch k+1 before it reads the
        answer to batch k, so host and plugin work at the same time (PROTOCOL.md section 6)."""
        pending = self.session.send_request(Method.CANDLES, wire if wire is not None else batch.to_wire())
        return BatchCall(pending, len(batch), len(batch.alerts))

    def finish_batch(self, call: BatchCall) -> BatchResult:
        started = time.perf_counter()
        try:
            result = self.session.wait_response(call.pending, timeout=self.timeouts.call)
        finally:
            self.stats.add(Method.CANDLES, time.perf_counter() - started)
        try:
            return parse_batch_result(result, call.batch_len, call.alert_count)
        except ProtocolViolation as exc:
            raise self._protocol_error(exc) from None


class FeatureProxy(PluginProxy):
    def pre_run(self, run_config: dict[str, Any]) -> dict[str, Any] | None:
        result = self._call(Method.PRE_RUN, {"config": run_config})
        if result is None:
            return None
        if not isinstance(result, dict) or not isinstance(result.get("config"), dict):
            raise self._protocol_error(ProtocolViolation("bad result", "pre_run must return nil or {config: map}"))
        return dict(result["config"])

    def post_run(self, results: dict[str, Any]) -> dict[str, Any] | None:
        result = self._call(Method.POST_RUN, {"results": results})
        if result is None:
            return None
        if not isinstance(result, dict):
            raise self._protocol_error(ProtocolViolation("bad result", "post_run must return nil or a map"))
        return result

    def send_candles(self, batch: CandleBatch, wire: dict[str, Any] | None = None) -> None:
        self._notify(Method.CANDLES, wire if wire is not None else batch.to_wire())

    def send_trades(self, trades: list[dict[str, Any]]) -> None:
        if trades:
            self._notify(Method.TRADES, {"trades": trades})

    def take_hook_errors(self) -> list[HookErrorReport]:
        return self.session.take_hook_errors()


def start_plugin(
    spec: LaunchSpec,
    *,
    start_timeout: float = 10.0,
    call_timeout: float = 30.0,
    timeouts: Timeouts | None = None,
    max_frame: int = DEFAULT_MAX_FRAME,
    spawner: Spawner = COLD,
) -> StrategyProxy | FeatureProxy:
    """Spawn a plugin (a new process, or one forked from a warm fork server: `spawner`) and complete its
    handshake. Raises a PluginFailure subclass on any problem, with the process tree already gone."""
    timeouts = timeouts or Timeouts(start=start_timeout, call=call_timeout)
    process = spawner.spawn(spec, max_frame=max_frame)
    session = Session(process, max_frame=max_frame, partial_frame_timeout=timeouts.partial_frame,
                      term_grace=timeouts.term_grace)
    try:
        hello = session.wait_hello(timeouts.start)
    except BaseException:
        session.kill()
        raise
    cls = StrategyProxy if spec.plugin_type == "strategy" else FeatureProxy
    return cls(session, hello, timeouts)
