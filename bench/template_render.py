"""Template render throughput: a typical personalised email through the Handlebars engine against the
thinnest Python that fills the same placeholders with the same values.

    .venv/bin/python bench/template_render.py [renders]

The email is ~2.3 KB of HTML with 24 substitutions, an #each over 5 order lines, an #if/else and a few
helpers (upper, capitalizeFirst, dateFormat, multiply, inflect). The baseline does the same lookups in
the same endpoint dict, escapes with html.escape and fills `str.format_map` templates (the loop as a
join of per-item format_map calls): no parsing, no sandbox, no limits. Both outputs are printed side
by side once so a reader can see they carry the same text. No Django, no database.
"""

import html
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from campaigns.handlebars import compile_template

ENDPOINT = {
    "Address": "jane.roe@example.com",
    "ChannelType": "EMAIL",
    "Id": "ep-42",
    "Attributes": {
        "Plan": ["gold"],
        "OrderId": ["A-10023"],
        "OrderDate": ["2024-03-05T14:30:00Z"],
        "Items": ["Espresso beans 1kg", "Milk frother", "Ceramic cup", "Descaler", "Gift card"],
        "Coupon": ["SPRING24"],
    },
    "Metrics": {"OrderTotal": 84.5, "Points": 1250.0, "Orders": 7.0},
    "Location": {"City": "Los Angeles", "Country": "US", "PostalCode": "90012"},
    "Demographic": {"Locale": "en_US", "Timezone": "America/Los_Angeles", "Platform": "web"},
    "User": {
        "UserId": "u-1001",
        "UserAttributes": {"FirstName": ["jane"], "LastName": ["Roe"], "Tier": ["Gold <VIP>"]},
    },
}

HANDLEBARS = """<!doctype html>
<html><head><meta charset="utf-8"><title>Your order {{Attributes.OrderId.[0]}}</title></head>
<body style="font-family: Arial, sans-serif; color: #222;">
<table width="600" cellpadding="0" cellspacing="0" align="center">
  <tr><td style="padding: 24px; background: #f4f4f4;">
    <h1>Thanks for your order, {{capitalizeFirst User.UserAttributes.FirstName.[0]}}!</h1>
    <p>Hi {{capitalizeFirst User.UserAttributes.FirstName.[0]}} {{User.UserAttributes.LastName.[0]}}, we received
    order <strong>{{Attributes.OrderId.[0]}}</strong> on {{dateFormat Attributes.OrderDate.[0] outputFormat="long"}}
    and it is being prepared for shipping to {{Location.City}}, {{Location.Country}} {{Location.PostalCode}}.</p>
  </td></tr>
  <tr><td style="padding: 24px;">
    <h2>What you ordered</h2>
    <ul>
      {{#each Attributes.Items}}
      <li style="margin: 4px 0;">{{@index}}. {{this}}</li>
      {{/each}}
    </ul>
    <p>Order total: <strong>${{Metrics.OrderTotal}}</strong>
    ({{inflect Metrics.Orders "order" "orders" includeCount=true}} so far).</p>
    {{#if Attributes.Coupon.[0]}}
    <p>Your next-order coupon: <code>{{upper Attributes.Coupon.[0]}}</code>
    &mdash; worth {{multiply Metrics.OrderTotal 0.1}} off.</p>
    {{else}}
    <p>No coupon this time.</p>
    {{/if}}
  </td></tr>
  <tr><td style="padding: 24px; background: #fafafa; font-size: 12px; color: #666;">
    <p>Member: {{User.UserId}} &middot; Plan: {{Attributes.Plan.[0]}} &middot; Tier: {{User.UserAttributes.Tier.[0]}}
    &middot; Points: {{Metrics.Points}}</p>
    <p>This message was sent to {{Address}} ({{ChannelType}}, endpoint {{Id}}) because you have an account with
    us. Locale {{Demographic.Locale}}, time zone {{Demographic.Timezone}}, platform {{Demographic.Platform}}.</p>
    <p>Questions? Reply to this email or visit our help centre; we answer within one business day. You can
    change what we send you at any time from your account settings, and unsubscribe with one click.</p>
    <p>Shipping usually takes two to four business days. We will email you a tracking link as soon as the
    parcel leaves our warehouse, and again when it is out for delivery. If something arrives damaged or is not
    what you expected, keep the packaging and tell us within thirty days: returns are free for members.</p>
    <p>Our shop and our newsletters are run by a small team; every order helps. We never sell your address,
    and we keep your order history only as long as the law asks us to. Thank you for shopping with us.</p>
  </td></tr>
</table>
</body></html>
"""

FORMAT_MAIN = """<!doctype html>
<html><head><meta charset="utf-8"><title>Your order {order_id}</title></head>
<body style="font-family: Arial, sans-serif; color: #222;">
<table width="600" cellpadding="0" cellspacing="0" align="center">
  <tr><td style="padding: 24px; background: #f4f4f4;">
    <h1>Thanks for your order, {first_name}!</h1>
    <p>Hi {first_name} {last_name}, we received
    order <strong>{order_id}</strong> on {order_date}
    and it is being prepared for shipping to {city}, {country} {postal_code}.</p>
  </td></tr>
  <tr><td style="padding: 24px;">
    <h2>What you ordered</h2>
    <ul>
{items}    </ul>
    <p>Order total: <strong>${total}</strong>
    ({orders} so far).</p>
{coupon}  </td></tr>
  <tr><td style="padding: 24px; background: #fafafa; font-size: 12px; color: #666;">
    <p>Member: {user_id} &middot; Plan: {plan} &middot; Tier: {tier}
    &middot; Points: {points}</p>
    <p>This message was sent to {address} ({channel}, endpoint {endpoint_id}) because you have an account with
    us. Locale {locale}, time zone {timezone}, platform {platform}.</p>
    <p>Questions? Reply to this email or visit our help centre; we answer within one business day. You can
    change what we send you at any time from your account settings, and unsubscribe with one click.</p>
    <p>Shipping usually takes two to four business days. We will email you a tracking link as soon as the
    parcel leaves our warehouse, and again when it is out for delivery. If something arrives damaged or is not
    what you expected, keep the packaging and tell us within thirty days: returns are free for members.</p>
    <p>Our shop and our newsletters are run by a small team; every order helps. We never sell your address,
    and we keep your order history only as long as the law asks us to. Thank you for shopping with us.</p>
  </td></tr>
</table>
</body></html>
"""
FORMAT_ITEM = '      <li style="margin: 4px 0;">{index}. {item}</li>\n'
FORMAT_COUPON = "    <p>Your next-order coupon: <code>{coupon}</code>\n    &mdash; worth {discount} off.</p>\n"
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def raw_render(endpoint: dict) -> str:
    """The same email with the same values, filled by hand: the thinnest possible way."""
    e = html.escape
    attributes, metrics, user = endpoint["Attributes"], endpoint["Metrics"], endpoint["User"]["UserAttributes"]
    location, demographic = endpoint["Location"], endpoint["Demographic"]
    first = user["FirstName"][0]
    year, month, day = attributes["OrderDate"][0][:10].split("-")
    coupon = attributes.get("Coupon", [""])[0]
    orders = metrics["Orders"]
    return FORMAT_MAIN.format_map(
        {
            "order_id": e(attributes["OrderId"][0]),
            "first_name": e(first[:1].upper() + first[1:]),
            "last_name": e(user["LastName"][0]),
            "order_date": f"{MONTHS[int(month) - 1]} {int(day)}, {year}",
            "city": e(location["City"]),
            "country": e(location["Country"]),
            "postal_code": e(location["PostalCode"]),
            "items": "".join(
                FORMAT_ITEM.format_map({"index": i, "item": e(item)}) for i, item in enumerate(attributes["Items"])
            ),
            "total": number(metrics["OrderTotal"]),
            "orders": f"{number(orders)} {'order' if orders == 1 else 'orders'}",
            "coupon": FORMAT_COUPON.format_map(
                {
                    "coupon": e(coupon.upper()),
                    "discount": number(float(Decimal(repr(metrics["OrderTotal"])) * Decimal("0.1"))),
                }
            )
            if coupon
            else "    <p>No coupon this time.</p>\n",
            "user_id": e(endpoint["User"]["UserId"]),
            "plan": e(attributes["Plan"][0]),
            "tier": e(user["Tier"][0]),
            "points": number(metrics["Points"]),
            "address": e(endpoint["Address"]),
            "channel": e(endpoint["ChannelType"]),
            "endpoint_id": e(endpoint["Id"]),
            "locale": e(demographic["Locale"]),
            "timezone": e(demographic["Timezone"]),
            "platform": e(demographic["Platform"]),
        }
    )


ROUNDS = 5


def per_call(count: int, call) -> float:
    """Seconds per call over `count` calls."""
    started = time.perf_counter()
    for _ in range(count):
        call()
    return (time.perf_counter() - started) / count


def main(count: int) -> None:
    template = compile_template(HANDLEBARS)
    ours_text, raw_text = template.render(ENDPOINT), raw_render(ENDPOINT)
    print(f"email: {len(ours_text)} characters (baseline {len(raw_text)}), {ROUNDS} rounds of {count} renders")
    if ours_text != raw_text:
        print("warning: the two outputs differ:\n", ours_text, "\n", raw_text)
    variants = {
        "raw format_map (baseline)": (count, lambda: raw_render(ENDPOINT)),
        "handlebars, compiled once": (count, lambda: template.render(ENDPOINT)),
        "handlebars, cache lookup + render": (count, lambda: compile_template(HANDLEBARS).render(ENDPOINT)),
        "handlebars, parse every time": (max(count // 20, 1), lambda: compile_uncached(HANDLEBARS)),
    }
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(ROUNDS):  # interleaved, best of each: a shared machine's noise only ever slows a round
        for label, (n, call) in variants.items():
            call()
            best[label] = min(best[label], per_call(n, call))
    for label, seconds in best.items():
        print(f"{label:<34} {1 / seconds:10.0f} /s  ({seconds * 1e6:7.1f} µs each)")
    baseline = best["raw format_map (baseline)"]
    print(f"ratio compiled / baseline: {best['handlebars, compiled once'] / baseline:.1f}x")
    print(f"ratio cache lookup + render / baseline: {best['handlebars, cache lookup + render'] / baseline:.1f}x")
    pathological()


def pathological() -> None:
    """How long the worst templates take to fail (or, for the largest source, to compile)."""
    from campaigns.handlebars import TemplateError

    each = "{{#each @root.xs}}"
    xs = {"xs": list(range(15))}
    cases = {
        "600,000 chars of {{a}} tags (parse+render)": ("{{a}}" * 120_000, {}),
        "#each 7 deep over 15 items (steps)": (each * 7 + "x" + "{{/each}}" * 7, xs),
        "#each 4 deep x 100 chars (output)": (each * 4 + "{{@root.big}}" + "{{/each}}" * 4, {**xs, "big": "x" * 100}),
        "recursive partial (depth)": ('{{#*inline "p"}}x{{> p}}{{/inline}}{{> p}}', {}),
        "helper output in a loop (helper chars)": (
            each * 2 + "{{#if (rjust 'x' 900000)}}{{/if}}" + "{{/each}}" * 2,
            xs,
        ),
    }
    print("pathological templates:")
    for label, (source, context) in cases.items():
        started = time.perf_counter()
        try:
            compile_template(source).render(context)
            outcome = "rendered"
        except TemplateError as error:
            outcome = f"TemplateError: {error.message}"
        print(f"  {label:<42} {time.perf_counter() - started:6.2f} s  {outcome}")


def compile_uncached(source: str) -> None:
    from campaigns.handlebars.limits import DEFAULT_LIMITS
    from campaigns.handlebars.parser import parse

    parse(source, DEFAULT_LIMITS)  # the parser alone, past the cache


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
