"""Background work of journeys (django-q2 adapters: ids in, one service call)."""

from datetime import datetime


def journeys_tick() -> int:
    """Every minute: admissions due, timers of paused journeys, cancellations, and due participants."""
    from journeys.engine import journeys_tick as tick

    return tick()


def journey_advance_task(journey_id: str) -> int:
    """Move a journey's due participants (one time-boxed slice; the tick continues)."""
    from journeys.engine import journey_advance

    return journey_advance(journey_id)


def journey_events_admit_task(journey_id: str, triggered_at: str, *keys_and_event_ids: str) -> int:
    """Admit the endpoints of matching events (endpoint key, event id, ...) and advance the journey."""
    from journeys.engine import journey_advance
    from journeys.engine.triggers import journey_events_admit

    pairs = list(zip(keys_and_event_ids[::2], keys_and_event_ids[1::2], strict=True))
    admitted = journey_events_admit(journey_id, pairs, triggered_at=datetime.fromisoformat(triggered_at))
    if admitted:
        journey_advance(journey_id)
    return admitted
