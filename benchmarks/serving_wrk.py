"""Load generation for benchmarks/serving.py: Debian's wrk driven by a Lua script; its figures.

The script POSTs one fixed JSON body and, when wrk is done, prints exact figures (microsecond
percentiles, error counts) as one JSON line; wrk's own report is parsed when that line is absent.
Standard library only.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["median_cell", "parse_wrk", "percentile", "run_wrk", "wrk_script", "wrk_version"]


def percentile(ordered: list[int] | list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[min(rank, len(ordered)) - 1])


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}  # -> milliseconds
_DONE = "WRK-JSON "


def wrk_script(body: bytes) -> str:
    """A wrk Lua script that POSTs ``body`` and prints exact figures as one JSON line at the end."""
    text = body.decode()
    if "]==]" in text:
        raise ValueError("the body cannot be embedded in a Lua long string")
    return f"""wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[{text}]==]

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{_DONE}{{"requests": %d, "duration_us": %d, "bytes": %d, "non2xx": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "timeout": %d, ' ..
    '"p50_us": %.1f, "p90_us": %.1f, "p99_us": %.1f, "mean_us": %.1f, "max_us": %.1f}}\\n',
    summary.requests, summary.duration, summary.bytes, e.status,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
end
"""


def parse_wrk(text: str) -> dict[str, Any]:
    """Figures from wrk's output: the script's JSON line if there, else wrk's own report.

    Returns requests, rps, p50_ms, p99_ms, non2xx, socket_errors {connect, read, write,
    timeout} and errors (non-2xx + socket errors). ValueError when nothing can be read.
    """
    out: dict[str, Any] = {}
    for line in text.splitlines():
        if line.startswith(_DONE):
            raw = json.loads(line[len(_DONE) :])
            seconds = raw["duration_us"] / 1e6
            out = {
                "requests": raw["requests"],
                "seconds": seconds,
                "rps": raw["requests"] / seconds if seconds else 0.0,
                "p50_ms": raw["p50_us"] / 1e3,
                "p90_ms": raw["p90_us"] / 1e3,
                "p99_ms": raw["p99_us"] / 1e3,
                "mean_ms": raw["mean_us"] / 1e3,
                "max_ms": raw["max_us"] / 1e3,
                "non2xx": raw["non2xx"],
                "socket_errors": {k: raw[k] for k in ("connect", "read", "write", "timeout")},
            }
    if not out:  # wrk's human report (the script's done() did not run)
        rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
        done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", text)
        if not rps or not done:
            raise ValueError("no 'Requests/sec' in wrk's output")
        lat = {
            int(m[1]): float(m[2]) * _UNITS[m[3]]
            for m in re.finditer(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
        }
        sock = re.search(
            r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
        )
        non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
        out = {
            "requests": int(done[1]),
            "seconds": float(done[2]) * _UNITS[done[3]] / 1e3,
            "rps": float(rps[1]),
            "p50_ms": lat.get(50),
            "p90_ms": lat.get(90),
            "p99_ms": lat.get(99),
            "non2xx": int(non2xx[1]) if non2xx else 0,
            "socket_errors": dict(
                zip(("connect", "read", "write", "timeout"), map(int, sock.groups()), strict=True)
            )
            if sock
            else {"connect": 0, "read": 0, "write": 0, "timeout": 0},
        }
    out["errors"] = out["non2xx"] + sum(out["socket_errors"].values())
    good = out["requests"] - out["non2xx"]
    out["rps_ok"] = good / out["seconds"] if out["seconds"] else 0.0
    return out


def wrk_version() -> str:
    done = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return (
        (done.stdout + done.stderr).strip().splitlines()[0] if done.stdout or done.stderr else "?"
    )


def run_wrk(url: str, script: Path, connections: int, seconds: int, timeout_s: float) -> str:
    """wrk's output; its durations are whole seconds."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    command += [f"--timeout={timeout_s:g}s", "-s", str(script), url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        why = (done.stderr + done.stdout).strip()[-500:]
        raise RuntimeError(f"wrk exit code {done.returncode}: {why}")
    return done.stdout


def median_cell(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each figure over repeated runs; errors summed; the runs kept."""
    cell: dict[str, Any] = {}
    for key in ("rps", "rps_ok", "p50_ms", "p90_ms", "p99_ms", "mean_ms"):
        values = [r[key] for r in runs if r.get(key) is not None]
        cell[key] = statistics.median(values) if values else None
    cell["requests"] = sum(r["requests"] for r in runs)
    cell["non2xx"] = sum(r["non2xx"] for r in runs)
    cell["socket_errors"] = {
        k: sum(r["socket_errors"][k] for r in runs) for k in ("connect", "read", "write", "timeout")
    }
    cell["errors"] = sum(r["errors"] for r in runs)
    cell["runs"] = runs
    return cell
