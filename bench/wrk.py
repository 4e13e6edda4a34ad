"""Running wrk against 127.0.0.1 and reading its figures."""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int

    def line(self) -> str:
        bad = f"  ({self.non_2xx} non-2xx)" if self.non_2xx else ""
        return (f"  {self.name:<42} {self.rps:>10,.0f} req/s   p50 {self.p50_ms:6.2f} ms   "
                f"p99 {self.p99_ms:6.2f} ms{bad}")


def median(name: str, results: list[Result]) -> Result:
    """The median of each figure over rounds of the same measurement."""
    def mid(values: list[float]) -> float:
        return statistics.median(values)

    return Result(name, mid([r.rps for r in results]), mid([r.p50_ms for r in results]),
                  mid([r.p99_ms for r in results]), sum(r.non_2xx for r in results))


def within_rounds(a: list[Result], b: list[Result]) -> float:
    """The median over rounds of a's rate over b's, each ratio taken within one round: a
    drift of the machine between rounds moves both figures of a round and cancels out."""
    return statistics.median(x.rps / y.rps for x, y in zip(a, b, strict=True))


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if not match:
        raise ValueError(f"cannot read a latency from {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _lua(method: str, body: str | None, headers: dict[str, str]) -> str:
    lines = [f'wrk.method = "{method}"']
    if body is not None:
        lines.append(f"wrk.body = {body!r}".replace("'", '"'))
    for name, value in headers.items():
        lines.append(f'wrk.headers["{name}"] = "{value}"')
    return "\n".join(lines) + "\n"


def run(name: str, url: str, *, seconds: int, threads: int = 2, connections: int = 16,
        method: str = "GET", body: str | None = None,
        headers: dict[str, str] | None = None, script: str = "") -> Result:
    """wrk's figures for `url`; `script` is Lua added after the method, body and headers
    (a `request` function there makes each request's body, say)."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError("benchmarks load 127.0.0.1 only")
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script_file:
        script_file.write(_lua(method, body, headers or {}) + script)
    try:
        out = subprocess.run(
            [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
             "-s", script_file.name, url],
            capture_output=True, text=True, timeout=seconds + 30, check=True,
        ).stdout
    finally:
        Path(script_file.name).unlink()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return Result(name, rps, p50, p99, int(bad.group(1)) if bad else 0)
