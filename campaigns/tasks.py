"""Background work of the delivery outbox. A task carries a batch of ids, never one message."""

from campaigns.deliveries import deliveries_send_batch, deliveries_sweep


def deliveries_send(*ids: int) -> int:
    """Send the due rows among `ids`; returns how many this run handled (0 if another run had them)."""
    return len(deliveries_send_batch(ids))


def deliveries_sweep_due() -> int:
    """Every minute: re-queue rows whose worker died and enqueue due retries; returns how many."""
    return len(deliveries_sweep())
