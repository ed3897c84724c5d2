"""What every transport shares: the error it raises and the interface the outbox calls."""

from collections.abc import Sequence
from typing import Protocol

from campaigns.models import Delivery


class DeliveryError(Exception):
    """A failed send. `permanent`: do not retry this delivery; `code`: the provider's status code
    (None when the provider could not be reached at all — the outbox then stops knocking for the
    rest of the batch)."""

    def __init__(self, message: str, *, permanent: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.code = code

    def __str__(self) -> str:
        return self.message


class Transport(Protocol):
    """Opened once per batch and channel, sends deliveries one by one, closed at the end.

    `send` returns the provider's message id, or raises DeliveryError."""

    def open(self) -> None: ...
    def send(self, delivery: Delivery) -> str: ...
    def close(self) -> None: ...


class BatchTransport(Transport, Protocol):
    """A transport that sends several deliveries in one provider call (the custom channel: up to 50
    endpoints a call). The outbox hands it FLUSH_EVERY rows at a time."""

    def send_many(self, deliveries: Sequence[Delivery]) -> dict[int, str | DeliveryError]:
        """Each delivery's provider message id, or the DeliveryError that ended its call."""
        ...
