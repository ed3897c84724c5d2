"""Campaign definitions: Pinpoint's WriteCampaignRequest checked and saved (every save a new Version),
the campaign's state and next run, deletion, and the CampaignResponse / ActivityResponse shapes.
This package's interface is what it imports below; `values` and `members` check the request's members,
`definition` the request as a whole, `services` saves, `responses` answers.

Conventions (where Pinpoint leaves a choice):
- UpdateCampaign merges: top-level members not sent keep their values (so `{"IsPaused": true}`
  pauses); a member sent replaces the stored one whole, and one sent as null is removed. `tags`
  count on create only.
- A treatment's MessageConfiguration, TemplateConfiguration, Schedule and CustomDeliveryConfiguration
  replace the default treatment's ("0") when given; missing ones are inherited (`treatments_of`),
  except that a treatment with a message or a template of its own inherits neither.
- Treatments take endpoints by Endpoint.cohort_id (0 to 99): the holdout first, then "0", then "1".."4".
- A webhook DeliveryUri gets Pinpoint's HEAD check when it is new to the campaign.
- SegmentVersion not sent: the campaign follows the segment's latest version (answered as such).
"""

from campaigns.campaigns.responses import activity_response, campaign_arn, campaign_response, treatments_of
from campaigns.campaigns.services import (
    campaign_create,
    campaign_delete,
    campaign_set_paused,
    campaign_update,
    campaigns_segment_deleted,
)
from campaigns.campaigns.values import CampaignInvalid

__all__ = [
    "CampaignInvalid",
    "activity_response",
    "campaign_arn",
    "campaign_create",
    "campaign_delete",
    "campaign_response",
    "campaign_set_paused",
    "campaign_update",
    "campaigns_segment_deleted",
    "treatments_of",
]
