"""The waves of a running deploy as the job page shows them (docs/waves.md, "the page").

The pipeline hands each ``WaveEvent`` to the ``on_wave`` of its ``DeployRequest``; a worker folds
them into a *board* (every wave's latest state, message and bake time left) and stores it beside
the job, so any page process can show it. Pure, apart from the context variable through which the
worker hands its recorder to the job's body (``deployer.web.actions.job_work`` runs in the
worker's own thread, so the variable reaches it without changing the body's signature).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from deployer.rollout.waves import WaveEvent, WaveState

OnWave = Callable[[WaveEvent], None]
Board = dict[str, Any]
"""``{"of": N, "waves": [{"wave", "clusters", "state", "message", "remaining"}...]}`` (JSON)."""

STEERABLE = frozenset({WaveState.BAKING.value, WaveState.PAUSED.value})
"""The states in which pause, resume and abort mean something: the gate reads them while it bakes."""

_sink: ContextVar[OnWave | None] = ContextVar("deployer_web_wave_sink", default=None)


def empty(of: int) -> Board:
    return {"of": of, "waves": [{"wave": i + 1, "clusters": [], "state": WaveState.PENDING.value, "message": "",
                                 "remaining": None} for i in range(of)]}


def fold(board: Board | None, event: WaveEvent) -> Board:
    """The board after ``event`` (a new board; the one given is not changed)."""
    fresh = empty(event.of) if board is None or board.get("of") != event.of else \
        {"of": board["of"], "waves": [dict(w) for w in board["waves"]]}
    fresh["waves"][event.wave - 1] = {"wave": event.wave, "clusters": list(event.clusters),
                                      "state": event.state.value, "message": event.message,
                                      "remaining": None if event.remaining is None else round(event.remaining, 1)}
    return fresh


def steering(board: Board | None) -> dict[str, Any] | None:
    """The wave a pause, resume or abort would act on now (the one baking or paused), if any."""
    for wave in (board or {}).get("waves", []):
        if wave.get("state") in STEERABLE:
            return dict(wave)
    return None


def as_of(board: Board, updated: float, now: float) -> Board:
    """The board with each bake's time left counted down to ``now`` (it was stored at ``updated``)."""
    waves = []
    for wave in board.get("waves", []):
        wave = dict(wave)
        if wave.get("state") == WaveState.BAKING.value and wave.get("remaining") is not None:
            wave["remaining"] = round(max(float(wave["remaining"]) - max(now - updated, 0.0), 0.0), 1)
        waves.append(wave)
    return {**board, "waves": waves, "steerable": steering(board) is not None}


def phase(board: Board) -> str:
    """One line for the overview: the wave in progress, e.g. "wave 1/2 baking, 40s left"."""
    waves = board.get("waves", [])
    busy = [w for w in waves if w.get("state") not in (WaveState.PENDING.value, WaveState.PASSED.value)]
    wave = busy[0] if busy else next((w for w in reversed(waves) if w.get("state") == WaveState.PASSED.value), None)
    if wave is None:
        return ""
    said = f"wave {wave['wave']}/{board.get('of')} {wave['state']}"
    if wave["state"] == WaveState.BAKING.value and wave.get("remaining") is not None:
        said += f", {float(wave['remaining']):.0f}s left"
    return said


@contextmanager
def recording(sink: OnWave) -> Iterator[None]:
    """Within the block, ``current_sink()`` is ``sink``: the job's body passes it to the pipeline."""
    token = _sink.set(sink)
    try:
        yield
    finally:
        _sink.reset(token)


def current_sink() -> OnWave | None:
    return _sink.get()
