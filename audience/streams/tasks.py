"""Background work of event streams: each task takes a project id (or nothing) and calls one service."""

from audience.streams.services import stream_ship as ship
from audience.streams.services import streams_sweep as sweep


def stream_ship(project_id: str) -> None:
    """Ship the project's waiting events to its stream."""
    ship(project_id)


def streams_sweep() -> None:
    """Enqueue shipping for streams with waiting events that are due (retries, lost tasks)."""
    sweep()
