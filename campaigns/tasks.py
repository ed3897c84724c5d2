"""Background work of the delivery outbox. A task carries a batch of ids, never one message."""

from campaigns.deliveries import deliveries_pace, deliveries_send_batch, deliveries_sweep


def deliveries_send(*ids: int) -> int:
    """Send the due rows among `ids`; returns how many this run handled (0 if another run had them)."""
    return len(deliveries_send_batch(ids))


def deliveries_sweep_due() -> int:
    """Every minute: re-queue rows whose worker died and enqueue due retries; returns how many."""
    return len(deliveries_sweep())


def deliveries_pace_due() -> int:
    """Every minute: while rows written to fall due later (rate limits, local time) are waiting,
    enqueue them second by second as they fall due; returns how many."""
    return deliveries_pace()


def campaign_run(run_id: str) -> bool:
    """Write the next time-boxed slice of a campaign run (it enqueues the rest itself)."""
    from campaigns.runs import campaign_run_step

    return campaign_run_step(run_id)


def campaign_run_lane(run_id: str, number: int) -> bool:
    """Write the next time-boxed slice of one lane of a large campaign run (see campaigns.runs)."""
    from campaigns.runs import campaign_run_lane_step

    return campaign_run_lane_step(run_id, number)


def campaigns_tick() -> int:
    """Every minute: start the runs of due campaigns, and enqueue again runs whose worker died."""
    from campaigns.runs import campaign_runs_sweep, campaigns_start_due

    return len(campaigns_start_due()) + len(campaign_runs_sweep())
