"""The campaign engine: the scheduler tick, the run loop and one batch's decisions (see
ARCHITECTURE.md, "Campaign runs"). The public interface other modules code against."""

from campaigns.runs.engine import (
    campaign_run_lane_step,
    campaign_run_step,
    campaign_runs_sweep,
    campaigns_start_due,
)
from campaigns.runs.send import campaign_send_to

__all__ = [
    "campaign_run_lane_step",
    "campaign_run_step",
    "campaign_runs_sweep",
    "campaign_send_to",
    "campaigns_start_due",
]
