"""The campaign hook in FILTER mode (Pinpoint's CampaignHook, or the project's default hook): before
sending, the endpoints of a batch are POSTed, ≤ 50 a call, to Hook.WebUrl with Pinpoint's payload

  {"MessageConfiguration": {...DirectMessageConfiguration shape}, "ApplicationId": "...",
   "CampaignId": "...", "TreatmentId": "0", "ActivityId": "...", "ScheduledTime": "…Z",
   "Endpoints": {"<endpoint id>": {EndpointResponse}}}

signed like every Engage webhook (engage.webhooks). The answer is the Endpoints map to send to (the
map itself, or {"Endpoints": map}): endpoints left out are not sent; a returned document replaces the
endpoint's for personalisation, and its TitleOverride/BodyOverride apply to push and SMS. A call that
takes longer than 15 s, answers non-2xx or undecodable JSON is tried 3 times; then its endpoints end
HOOK_FAILURE — and when it did not answer at all, so do the batch's other endpoints, uncalled (a
batch waits at most 45 s on a hook that is down). Hooks that name only a Lambda function, or Mode
DELIVERY (deprecated in Pinpoint), are not supported: their endpoints end HOOK_FAILURE, saying so.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from audience.models import endpoint_key
from engage.api.formats import iso8601
from engage.http import outgoing_client
from engage.webhooks import UrlRefused, check_url, project_secret, signed_headers

HOOK_TIMEOUT = 15.0
HOOK_ATTEMPTS = 3
HOOK_ENDPOINTS = 50


@dataclass
class HookAnswer:
    kept: dict[str, dict[str, Any]]  # endpoint key → the document to render with
    failed: dict[str, str]  # endpoint key → why the hook failed for it


def hook_unsupported(hook: Mapping[str, str]) -> str:
    """Why Engage cannot call this hook, or "" when it can."""
    if (hook.get("Mode") or "FILTER") != "FILTER":
        return f"HOOK_FAILURE: Engage calls campaign hooks in FILTER mode only (Mode {hook['Mode']} is not supported)."
    if not hook.get("WebUrl"):
        return "HOOK_FAILURE: Engage calls hooks at a WebUrl only; Lambda functions are not supported."
    try:
        check_url(hook["WebUrl"])
    except UrlRefused as error:
        return f"HOOK_FAILURE: {error}"
    return ""


def hook_filter(
    hook: Mapping[str, str],
    *,
    project_id: str,
    base: Mapping[str, Any],
    endpoints: Mapping[str, tuple[str, dict[str, Any]]],
) -> HookAnswer:
    """Ask the hook which of `endpoints` (key → (endpoint id, document)) to send to. `base` holds the
    payload's other members (MessageConfiguration, CampaignId...). One HTTP client for the batch."""
    answer = HookAnswer({}, {})
    unsupported = hook_unsupported(hook)
    if unsupported:
        answer.failed = dict.fromkeys(endpoints, unsupported)
        return answer
    keys = list(endpoints)
    down = ""  # set when the hook did not answer at all: the batch's other calls are not tried
    with outgoing_client() as http:
        for start in range(0, len(keys), HOOK_ENDPOINTS):
            chunk = keys[start : start + HOOK_ENDPOINTS]
            if down:
                answer.failed.update(dict.fromkeys(chunk, down))
                continue
            body = {**base, "Endpoints": {endpoints[k][0]: endpoints[k][1] for k in chunk}}
            returned, error = _call(http, hook["WebUrl"], project_id, body)
            if returned is None:
                answer.failed.update(dict.fromkeys(chunk, error))
                down = error if "did not answer" in error else ""
                continue
            asked = set(chunk)
            for endpoint_id, document in returned.items():
                key = endpoint_key(str(endpoint_id))
                if key in asked:
                    answer.kept[key] = document
    return answer


def _call(http: httpx.Client, url: str, project_id: str, body: dict) -> tuple[dict | None, str]:
    raw = json.dumps(body, separators=(",", ":"), default=str).encode()
    error = ""
    for _ in range(HOOK_ATTEMPTS):
        try:
            response = http.post(
                url, content=raw, headers=signed_headers(project_secret(project_id), raw), timeout=HOOK_TIMEOUT
            )
        except httpx.HTTPError as failure:
            error = f"HOOK_FAILURE: the hook at {url} did not answer ({type(failure).__name__})."
            continue
        if not response.is_success:
            error = f"HOOK_FAILURE: the hook at {url} answered HTTP {response.status_code}."
            continue
        try:
            parsed = response.json()
        except ValueError:
            error = f"HOOK_FAILURE: the hook at {url} answered something that is not JSON."
            continue
        if isinstance(parsed, dict) and isinstance(parsed.get("Endpoints"), dict) and len(parsed) == 1:
            parsed = parsed["Endpoints"]
        if not isinstance(parsed, dict) or not all(isinstance(v, dict) for v in parsed.values()):
            error = f"HOOK_FAILURE: the hook at {url} did not answer an Endpoints map."
            continue
        return parsed, ""
    return None, error[:500]


def scheduled_time(value) -> str:
    return iso8601(value) or ""
