"""Connection limits below the app: how long a client may take to send a request, and how
many connections one client, and all clients together, may hold open.

uvicorn puts no time limit on reading a request: its keep-alive timer stops at a request's
first byte, so a client sending one byte a second holds a connection, a file descriptor and
(once its headers are in) a running request for as long as it likes (issue 14, finding 6).
:class:`GuardedProtocol` is uvicorn's httptools protocol with a deadline for the headers
(from the connection's or the request's first byte) and one for the body (from the end of
the headers); a request that misses one is answered 408 and its connection closed. It also
refuses, at once, a connection beyond ``max_connections_per_client`` from one address or
beyond ``max_connections`` in all, so slow clients cannot use up the process's file
descriptors. uvicorn builds one protocol per connection with
``functools.partial(GuardedProtocol, guard=ConnectionGuard.of(config))``: the guard holds the
limits and the counts of one server process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

if TYPE_CHECKING:
    from mlcycle.serving._config import ServeConfig

__all__ = ["MAX_HEADER_BYTES", "ConnectionGuard", "GuardedProtocol", "fit_descriptors"]

logger = logging.getLogger("mlcycle.serve")

MAX_HEADER_BYTES = 64 * 1024
"""The most bytes a request line and headers may take (httptools itself sets no limit)."""

_SPARE_DESCRIPTORS = 256  # for the logs, the database, libraries and the listening socket
_WARN_EVERY = 60.0


def _raw_answer(status: int, reason: str, message: str, retry: bool = False) -> bytes:
    """A whole JSON error response, written straight to a connection the app never saw."""
    body = orjson.dumps({"error": message})
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n"
    )
    return (head + ("retry-after: 1\r\n" if retry else "") + "\r\n").encode() + body


class ConnectionGuard:
    """The limits of one server process and the connections it holds open, by address."""

    def __init__(
        self,
        *,
        header_timeout: float,
        body_timeout: float,
        max_connections: int,
        max_connections_per_client: int,
    ) -> None:
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.max_connections = max_connections
        self.max_connections_per_client = max_connections_per_client
        self.open: dict[str, int] = {}
        self.total = 0
        self._warned = 0.0

    @classmethod
    def of(cls, config: ServeConfig) -> ConnectionGuard:
        return cls(
            header_timeout=config.header_timeout,
            body_timeout=config.body_timeout,
            max_connections=fit_descriptors(config.max_connections),
            max_connections_per_client=config.max_connections_per_client,
        )

    def admit(self, client: str) -> bytes | None:
        """Count a new connection from ``client``, or the answer that refuses it."""
        if self.total >= self.max_connections:
            self._warn(f"{self.total} connections open (max_connections)")
            return _raw_answer(
                503, "Service Unavailable", "The server has too many open connections; retry "
                "shortly.", retry=True,
            )  # fmt: skip
        held = self.open.get(client, 0)
        if held >= self.max_connections_per_client:
            self._warn(f"{client} holds {held} connections (max_connections_per_client)")
            return _raw_answer(
                429, "Too Many Requests", f"This address already holds {held} connections "
                "to the server; reuse them, or retry shortly.", retry=True,
            )  # fmt: skip
        self.open[client] = held + 1
        self.total += 1
        return None

    def release(self, client: str) -> None:
        self.total -= 1
        held = self.open.pop(client, 1) - 1
        if held > 0:
            self.open[client] = held

    def _warn(self, why: str) -> None:
        now = time.monotonic()
        if now - self._warned >= _WARN_EVERY:  # once a minute: a flood must not flood the log
            self._warned = now
            logger.warning("refusing connections: %s", why)


class _HeadersTooLarge(Exception):
    pass


_HEADERS_TOO_LARGE = _raw_answer(
    431, "Request Header Fields Too Large",
    f"The request line and headers take more than {MAX_HEADER_BYTES:,} bytes.",
)  # fmt: skip


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with read deadlines and connection caps (see the module)."""

    def __init__(self, *args: Any, guard: ConnectionGuard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = guard
        self._address = ""
        self._admitted = False
        self._deadline: asyncio.TimerHandle | None = None
        self._timer_at = 0.0  # when _deadline fires
        self._phase = ""  # "headers" or "body" while a deadline runs
        self._ends = 0.0  # the loop time by which that phase must end
        self._head_bytes = 0  # of this request's line and headers, as parsed
        self._unparsed = 0  # bytes received since the last headers were complete

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._address = self.client[0] if self.client else ""
        refusal = self.guard.admit(self._address)
        if refusal is not None:
            transport.write(refusal)
            transport.close()
            return
        self._admitted = True
        self._arm(self.guard.header_timeout, "headers")
        self._schedule()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if self._admitted:
            self._admitted = False
            self.guard.release(self._address)
        super().connection_lost(exc)

    # Headers are measured twice: exactly, header by header, as the parser reports them; and
    # roughly, as bytes arrive, since the parser keeps a header that never ends in memory
    # without reporting it.

    def data_received(self, data: bytes) -> None:
        if self._phase != "body":
            self._unparsed += len(data)
        super().data_received(data)
        if self._reading_headers and self._unparsed > MAX_HEADER_BYTES:
            self._head_bytes = self._unparsed
            self.send_400_response("")
        if self._phase and (self._deadline is None or self._timer_at > self._ends):
            self._schedule()  # this chunk left a request unfinished: its deadline must fire

    def send_400_response(self, msg: str) -> None:
        if self._head_bytes <= MAX_HEADER_BYTES:
            super().send_400_response(msg)
        elif not self.transport.is_closing():
            self._disarm()
            self.transport.write(_HEADERS_TOO_LARGE)
            self.transport.close()

    # -- parser callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        if self._phase != "headers":  # a later request on a kept-alive connection
            self._arm(self.guard.header_timeout, "headers")

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._unparsed = 0
        super().on_headers_complete()
        self._arm(self.guard.body_timeout, "body")  # on_message_complete disarms it

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _count(self, n: int) -> None:
        self._head_bytes += n
        if self._head_bytes > MAX_HEADER_BYTES:
            raise _HeadersTooLarge  # the parser stops; uvicorn calls send_400_response

    # -- deadlines -------------------------------------------------------------------------

    @property
    def _reading_headers(self) -> bool:
        return self._phase == "headers"

    # A deadline is a number; a timer runs only once a chunk of data leaves a request
    # unfinished (data_received), so a request that arrives whole, the usual case, starts
    # and cancels none (the first version started two a request; paired benchmark runs
    # showed it a few per cent slower, within this machine's noise: docs/benchmarks.md).
    # A timer that fires early for the phase now running re-arms itself for that phase.

    def _arm(self, seconds: float, phase: str) -> None:
        self._phase, self._ends = phase, self.loop.time() + seconds

    def _disarm(self) -> None:
        self._phase = ""

    def _schedule(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._timer_at = self._ends
        self._deadline = self.loop.call_at(self._ends, self._expire)

    def _expire(self) -> None:
        self._deadline = None
        if not self._phase or self.transport.is_closing():
            return
        if self.loop.time() < self._ends:  # a later phase or request, with a later deadline
            self._schedule()
            return
        self._timed_out(self._phase)

    def _timed_out(self, phase: str) -> None:
        """Answer 408 if nothing was answered to this request yet, and close the connection."""
        self._deadline, self._phase = None, ""
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if phase == "headers":  # a new request: the cycle, if any, is the one before it
            unanswered = cycle is None or cycle.response_complete
        else:
            unanswered = cycle is not None and not cycle.response_started
        if cycle is not None and not cycle.response_complete:
            # The app's receive() now says the client left, and anything it sends is dropped.
            cycle.disconnected = True
            cycle.message_event.set()
        if unanswered:
            seconds = self.guard.header_timeout if phase == "headers" else self.guard.body_timeout
            say = f"The request's {phase} took longer than {seconds:g} s to arrive."
            self.transport.write(_raw_answer(408, "Request Timeout", say))
        self.transport.close()


def fit_descriptors(max_connections: int) -> int:
    """``max_connections``, after making room for it in the process's open-file limit.

    The soft limit is raised towards the hard one when too low (Go's runtime does the same
    at start); if even the hard limit is too low, fewer connections are allowed, and the
    server says so, rather than run out of descriptors for its own log files.
    """
    try:
        import resource
    except ImportError:  # Windows: no such limit to fit
        return max_connections
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max_connections + _SPARE_DESCRIPTORS
    infinite = resource.RLIM_INFINITY
    if soft != infinite and soft < want:
        target = want if hard == infinite else min(want, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft != infinite and soft < want:
        fitted = max(1, soft - _SPARE_DESCRIPTORS)
        logger.warning(
            "the open-file limit is %s: allowing %s connections instead of max_connections=%s",
            soft, fitted, max_connections,
        )  # fmt: skip
        return fitted
    return max_connections
