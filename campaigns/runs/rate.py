"""MessagesPerSecond as send times (see RateSlots)."""

from datetime import datetime, timedelta

from campaigns.models import Delivery, DeliveryStatus
from campaigns.runs.plan import Plan

# A local-time run's endpoints of one zone are spaced from that zone's instant; rows of the same
# campaign within this window after it share its MessagesPerSecond budget.
LOCAL_WINDOW = timedelta(minutes=15)


class RateSlots:
    """MessagesPerSecond as send times: the campaign's rows due from one instant get next_attempt_at
    in whole seconds from it (never before now), MPS rows a second, after the campaign's latest
    queued row, so at most MPS of them fall due in any second however many workers send them. The
    state lives in the plan, so the run loop probes the database once per instant per step."""

    def __init__(self, plan: Plan, mps: int, now: datetime, *, local: bool) -> None:
        self.plan, self.mps, self.now, self.local = plan, mps, now, local

    def take(self, instant: datetime, expiry: datetime | None) -> datetime | None:
        """The send time of a row due from `instant`, or None when it would be at or after `expiry`."""
        if not self.mps:
            at = max(instant, self.now)
            return at if expiry is None or at < expiry else None
        state = self.plan.slots.get(instant)
        if state is None:
            queued = Delivery.objects.filter(
                status=DeliveryStatus.QUEUED, campaign_id=self.plan.campaign.id, next_attempt_at__gte=instant
            )
            if self.local:
                queued = queued.filter(next_attempt_at__lt=instant + LOCAL_WINDOW)
            latest = queued.order_by("-next_attempt_at").values_list("next_attempt_at", flat=True).first()
            first = max(instant, latest + timedelta(seconds=1)) if latest is not None else instant
            state = self.plan.slots[instant] = [first, 0]
        slot = state[0] + timedelta(seconds=state[1] // self.mps)
        if slot < self.now:  # behind (a slow or resumed run): go on from now, a second after the last
            last = state[0] + timedelta(seconds=(state[1] - 1) // self.mps) if state[1] else None
            state[:] = [max(self.now, last + timedelta(seconds=1)) if last is not None else self.now, 0]
            slot = state[0]
        if expiry is not None and slot >= expiry:
            return None
        state[1] += 1
        return slot
