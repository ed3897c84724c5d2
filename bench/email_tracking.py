"""What open/click tracking and the one-click unsubscribe header add to building one email.

    .venv/bin/python bench/email_tracking.py [messages]   (default: 20000)

Both sides build the same MIME message through the email transport (`EmailTransport.message`) and
serialise it to bytes, as the SMTP backend does before sending: a typical personalised order email
(~2.5 KB of HTML) with `links` tracked links. Baseline: tracking off and no ENGAGE_PUBLIC_URL
(List-Unsubscribe a mailto); ours: tracking on (links rewritten to signed redirects, open pixel,
one-click List-Unsubscribe). No database and no network: only the cost the transport adds per email.
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engage.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")

import django

django.setup()

from django.conf import settings  # noqa: E402

from campaigns.models import Delivery  # noqa: E402
from campaigns.transports.email import EmailTransport  # noqa: E402

LINKS = 10


def html(n: int) -> str:
    links = "\n".join(
        f'<p><a href="https://shop.example.com/orders/A-{n:06d}/item/{i}?utm_source=email&amp;utm_campaign=ship" '
        f'style="color:#06c">Item {i}: espresso beans, 1 kg</a></p>'
        for i in range(LINKS)
    )
    body = "<p>Shipping usually takes two to four business days. We will email you a tracking link.</p>\n" * 8
    return (
        '<!doctype html>\n<html><body style="font-family:Arial,sans-serif;color:#222">\n'
        f"<h1>Thanks for your order, Customer {n}!</h1>\n{links}\n{body}</body></html>\n"
    )


def rows(count: int) -> list[Delivery]:
    return [
        Delivery(
            id=n + 1,
            project_id="0123456789abcdef0123456789abcdef",
            address=f"user{n}@example.org",
            from_address="news@example.com",
            subject=f"Your order A-{n:06d}",
            text=f"Hi Customer {n}, your order is on its way.",
            html=html(n),
            message_id=f"<{n:032x}@example.com>",
        )
        for n in range(count)
    ]


def build_all(transport: EmailTransport, deliveries: list[Delivery]) -> float:
    """CPU seconds of this process (steadier than wall time on a shared machine; nothing here waits)."""
    start = time.process_time()
    for delivery in deliveries:
        transport.message(delivery).message().as_bytes()
    return time.process_time() - start


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    deliveries = rows(count)
    transport = EmailTransport()
    settings.ENGAGE_PUBLIC_URL, settings.ENGAGE_EMAIL_TRACKING = "", False
    build_all(transport, deliveries[:500])  # warm up
    baseline = build_all(transport, deliveries)
    settings.ENGAGE_PUBLIC_URL, settings.ENGAGE_EMAIL_TRACKING = "https://engage.example.com", True
    build_all(transport, deliveries[:500])
    ours = build_all(transport, deliveries)
    size = len(deliveries[0].html)
    print(f"{count} emails, {size} characters of HTML, {LINKS} links each")
    print(f"untracked: {baseline / count * 1e6:8.1f} µs/email CPU")
    print(f"tracked:   {ours / count * 1e6:8.1f} µs/email CPU  (+{(ours - baseline) / count * 1e6:.1f} µs)")
    print(f"ratio tracked/untracked: {ours / baseline:.2f}")


if __name__ == "__main__":
    main()
