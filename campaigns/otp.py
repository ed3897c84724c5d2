"""One-time passwords: SendOTPMessage makes a code and texts it; VerifyOTPMessage checks it.

Only an HMAC of the code is stored (keyed with SECRET_KEY, bound to the project, destination and
reference id), so the table never holds a usable code. One code is active per (project, destination,
reference id): a new send replaces it. A verification counts an attempt first, with a conditional
UPDATE, so parallel guesses cannot exceed AllowedAttempts; the right code, in time, verifies once
(the row is then deleted). The text goes out through the delivery outbox as an SMS delivery.
"""

import re
import secrets
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from campaigns.deliveries import OutgoingMessage, deliveries_create, deliveries_send_batch
from campaigns.messages import E164, RecipientResult, channel_settings, result_for
from campaigns.models import DeliveryChannel, OneTimePassword
from projects.models import Project

CODE_LENGTH = (5, 8, 6)  # (least, most, default) digits
VALIDITY_MINUTES = (5, 60, 15)
ALLOWED_ATTEMPTS = (1, 5, 3)
BRAND_NAME_MAX = 20
REFERENCE_ID_MAX = 48
# Pinpoint's fixed text. Pinpoint localises it for Language; Engage has the English text only.
TEXT = "This is your One Time Password: {otp} from {brand}"
ENGLISH = ("", "en-US", "en-GB")
LOCALISED = ("de-DE", "es-419", "es-ES", "fr-CA", "fr-FR", "it-IT", "ja-JP", "ko-KR", "pt-BR", "zh-CN", "zh-TW")
LANGUAGES = (*ENGLISH, *LOCALISED)
SENDER_ID = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9-]{1,11}")
SHORT_CODE = re.compile(r"[0-9]{3,8}")


class OtpInvalid(ValueError):
    """A SendOTPMessage request Pinpoint would answer with 400."""


def _bounded(value: int | None, name: str, bounds: tuple[int, int, int]) -> int:
    least, most, default = bounds
    if value is None:
        return default
    if not least <= value <= most:
        raise OtpInvalid(f"{name} must be from {least} to {most}.")
    return value


def _hash(project: Project, destination: str, reference_id: str, code: str) -> str:
    message = "\x1f".join((project.id, destination, reference_id, code))
    return salted_hmac("engage.otp", message, algorithm="sha256").hexdigest()


def _origination(identity: str) -> dict[str, str]:
    """OriginationIdentity as the SMS payload names it: a number (E.164 or a short code) or a sender ID."""
    if E164.fullmatch(identity) or SHORT_CODE.fullmatch(identity):
        return {"OriginationNumber": identity}
    if SENDER_ID.fullmatch(identity):
        return {"SenderId": identity}
    raise OtpInvalid("OriginationIdentity must be a phone number in E.164 form, a short code or a sender ID.")


def otp_send(
    project: Project,
    *,
    brand_name: str,
    channel: str,
    destination: str,
    origination: str,
    reference_id: str,
    code_length: int | None = None,
    validity_minutes: int | None = None,
    allowed_attempts: int | None = None,
    language: str = "",
    entity_id: str = "",
    template_id: str = "",
    request_id: str = "",
) -> RecipientResult:
    """Make a code for (destination, reference id), replacing any earlier one, and text it now.
    Returns Pinpoint's result for the destination; raises OtpInvalid (or MessageInvalid when the SMS
    channel is not enabled). Not idempotent: each call makes a new code."""
    if channel != "SMS":
        raise OtpInvalid("Channel must be SMS: Pinpoint sends one-time passwords by SMS only.")
    if not brand_name or len(brand_name) > BRAND_NAME_MAX:
        raise OtpInvalid(f"BrandName is required, at most {BRAND_NAME_MAX} characters.")
    if not reference_id or len(reference_id) > REFERENCE_ID_MAX:
        raise OtpInvalid(f"ReferenceId is required, 1 to {REFERENCE_ID_MAX} characters.")
    if not E164.fullmatch(destination):
        raise OtpInvalid("DestinationIdentity must be a phone number in E.164 form (+ and 7 to 15 digits).")
    if language not in LANGUAGES:
        raise OtpInvalid(f"Language must be one of {', '.join(LANGUAGES[1:])}.")
    if language not in ENGLISH:
        raise OtpInvalid(f"Language {language}: Engage has the English OTP text only (en-US, en-GB) so far.")
    sender = _origination(origination or "")
    length = _bounded(code_length, "CodeLength", CODE_LENGTH)
    minutes = _bounded(validity_minutes, "ValidityPeriod", VALIDITY_MINUTES)
    attempts = _bounded(allowed_attempts, "AllowedAttempts", ALLOWED_ATTEMPTS)
    channel_settings(project, DeliveryChannel.SMS)  # raises MessageInvalid when SMS is not enabled

    code = f"{secrets.randbelow(10**length):0{length}d}"
    payload = {"Body": TEXT.format(otp=code, brand=brand_name), "MessageType": "TRANSACTIONAL", **sender}
    payload |= {k: v for k, v in (("EntityId", entity_id), ("TemplateId", template_id)) if v}
    now = timezone.now()
    with transaction.atomic():
        OneTimePassword.objects.filter(project=project, destination=destination, expires_at__lt=now).delete()
        (delivery,) = deliveries_create(
            project,
            [OutgoingMessage(DeliveryChannel.SMS, destination, payload=payload)],
            request_id=request_id,
            enqueue=False,
        )
        OneTimePassword.objects.update_or_create(
            project=project,
            destination=destination,
            reference_id=reference_id,
            defaults={
                "code_hash": _hash(project, destination, reference_id, code),
                "allowed_attempts": attempts,
                "attempts": 0,
                "expires_at": now + timedelta(minutes=minutes),
                "created_at": now,
                "delivery": delivery,
            },
        )
    outcome = deliveries_send_batch([delivery.id]).get(delivery.id)
    return result_for(delivery, outcome, destination)


def otp_verify(project: Project, *, destination: str, reference_id: str, otp: str) -> bool:
    """True once for the code last sent to (destination, reference id), before it expires and within its
    allowed attempts; every call counts an attempt. Never raises for a wrong or unknown code."""
    now = timezone.now()
    row = OneTimePassword.objects.filter(project=project, destination=destination, reference_id=reference_id).first()
    if row is None or row.expires_at <= now:
        return False
    counted = OneTimePassword.objects.filter(
        id=row.id, code_hash=row.code_hash, attempts__lt=F("allowed_attempts"), expires_at__gt=now
    ).update(attempts=F("attempts") + 1)
    if not counted:
        return False
    if not constant_time_compare(row.code_hash, _hash(project, destination, reference_id, otp.strip())):
        return False
    deleted, _ = OneTimePassword.objects.filter(id=row.id, code_hash=row.code_hash).delete()
    return deleted > 0
