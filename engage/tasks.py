from django.core.management import call_command


def clear_expired_sessions() -> None:
    """Delete expired browser sessions (Django's clearsessions)."""
    call_command("clearsessions")
