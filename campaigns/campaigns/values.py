"""The checks every WriteCampaignRequest member is read with: each returns the value as stored or
raises CampaignInvalid naming the member (`where`) and what is wrong with it."""

from collections.abc import Mapping
from typing import Any

from campaigns.handlebars import TemplateError, compile_template

MAX_INT32 = 2_147_483_647


class CampaignInvalid(Exception):
    """A campaign request Engage refuses (answered 400 BadRequestException); the message says why."""


def obj(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise CampaignInvalid(f"{where} must be an object.")
    return value


def string(value: object, where: str, *, limit: int | None = None) -> str:
    if not isinstance(value, str):
        raise CampaignInvalid(f"{where} must be a string.")
    if limit is not None and len(value) > limit:
        raise CampaignInvalid(f"{where} is {len(value)} characters long; the limit is {limit}.")
    return value


def integer(value: object, where: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise CampaignInvalid(f"{where} must be a whole number.")
    if not low <= value <= high:
        raise CampaignInvalid(f"{where} must be between {low} and {high}, not {value}.")
    return value


def boolean(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise CampaignInvalid(f"{where} must be true or false.")
    return value


def enum(value: object, where: str, allowed: tuple[str, ...] | list[str]) -> str:
    if value not in allowed:
        raise CampaignInvalid(f"{where} must be one of {', '.join(allowed)}.")
    return value  # type: ignore[return-value]


def member_at(where: str, member: str) -> str:
    return f"{where}.{member}" if where else member


def strings(given: Mapping[str, Any], members: tuple[str, ...], where: str) -> dict[str, str]:
    return {m: string(given[m], member_at(where, m)) for m in members if given.get(m) is not None}


def string_list(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise CampaignInvalid(f"{where} must be a non-empty list of strings.")
    return list(value)


def personalised(source: str, where: str) -> None:
    try:
        compile_template(source)
    except TemplateError as problem:
        at = f" at line {problem.line}, column {problem.column}" if problem.line is not None else ""
        raise CampaignInvalid(f"{where} does not parse{at}: {problem.message}") from None
