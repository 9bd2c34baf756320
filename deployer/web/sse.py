"""Server-Sent Events: the live log of a job as a ``text/event-stream``.

Framing follows the HTML standard's event-stream format: a field per line, ``data`` repeated for
each line of a multi-line value (the browser joins them with "\\n"), a blank line ends an event,
and a line starting with ":" is a comment (used as a keep-alive). Each log line is one unnamed
event whose ``id`` is its index, so a browser that reconnects sends ``Last-Event-ID`` and resumes
after the last line it saw. The stream ends with one ``done`` event carrying the job's outcome.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

_NEWLINES = re.compile(r"\r\n|\r|\n")

Follow = Callable[[int, float], tuple[list[str], dict[str, Any] | None]]
"""``follow(index, timeout)``: lines from ``index`` on (waiting up to ``timeout``), and the final
event once there are no more lines."""


def event(data: str, *, name: str | None = None, event_id: int | str | None = None) -> bytes:
    """One event. ``name`` and ``event_id`` are single-line fields; ``data`` may span lines."""
    fields = []
    if name is not None:
        fields.append(("event", name))
    if event_id is not None:
        fields.append(("id", str(event_id)))
    for key, value in fields:
        if _NEWLINES.search(value) or "\0" in value:
            raise ValueError(f"an event's {key} cannot span lines: {value!r}")
    lines = [f"{key}: {value}" for key, value in fields]
    lines += [f"data: {part}" for part in _NEWLINES.split(data)]
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def comment(text: str = "") -> bytes:
    return "".join(f": {part}\n" for part in _NEWLINES.split(text)).encode("utf-8") + b"\n"


def resume_from(last_event_id: str | None, start: str | None) -> int:
    """The index of the first line to send: after ``Last-Event-ID`` on a reconnect, else the
    ``from`` query parameter (the lines the page already rendered), else 0."""
    for value, offset in ((last_event_id, 1), (start, 0)):
        if value and value.strip().isdigit():
            return int(value.strip()) + offset
    return 0


def stream(follow: Follow, index: int, *, keep_alive: float = 15.0) -> Iterator[bytes]:
    """Every line from ``index`` on as it is written, then the ``done`` event."""
    yield b"retry: 2000\n\n"
    while True:
        lines, final = follow(index, keep_alive)
        for line in lines:
            yield event(line, event_id=index)
            index += 1
        if final is not None:
            yield event(json.dumps(final), name="done")
            return
        if not lines:
            yield comment("keep-alive")
