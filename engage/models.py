from django.db import models


class RateCounter(models.Model):
    """The API rate limiter's database counter: one row per (project, operation), reused.

    `window_start` is the current one-second window (Unix seconds) and `hits` the requests counted in
    it; the limiter moves a row to a newer window with the same atomic upsert that counts, so rows
    never accumulate per window (engage/api/ratelimit.py).
    """

    key = models.CharField(max_length=200, primary_key=True)  # no id: an upsert draws no sequence value
    window_start = models.BigIntegerField()
    hits = models.IntegerField()

    class Meta:
        db_table = "engage_ratecounter"

    def __str__(self) -> str:
        return f"{self.key} @ {self.window_start}: {self.hits}"


# Registers the check of ENGAGE_API_RATE_LIMITS with `manage.py check` at start-up (models load
# with the apps; the API modules only with the first request).
from engage.api import ratelimit as _ratelimit  # noqa: E402, F401
