"""The campaigns page (/campaigns/) is the campaign list; campaigns.campaign_pages has it and the
other campaign pages, campaigns.campaign_wizard the wizard. (Message template pages are
campaigns.template_pages.)"""

from campaigns.campaign_pages import campaign_list as campaigns

__all__ = ["campaigns"]
