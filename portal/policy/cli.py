"""`portal policy ...`: check a policy file and evaluate requests against it.

The `policy` click group is attached to the main `portal` command elsewhere; it
also runs on its own with ``python -m portal.policy.cli``. The `evaluate`
command is a contract used by tests, merchants and the backtest:

* exit 0: exactly one JSON document on stdout;
* exit 2: the policy failed to load; its errors (file:line:col: message) on stderr;
* exit 3: the request is invalid; the problems on stderr.

Nothing but the decision is ever written to stdout.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path

import click

from portal.policy.evaluator import compile_policy, evaluate
from portal.policy.loader import PolicyLoadError, load_policy_file, policy_sha256
from portal.policy.request import RequestError, parse_request_json
from portal.policy.schema import Conditions, Effects, Policy

__all__ = ["describe_policy", "policy"]

EXIT_POLICY_INVALID = 2
EXIT_REQUEST_INVALID = 3


@click.group(name="policy")
def policy() -> None:
    """Check return policies and evaluate return requests against them."""


def _load_or_exit(path: str) -> tuple[Policy, str]:
    try:
        return load_policy_file(path)
    except PolicyLoadError as exc:
        for error in exc.errors:
            click.echo(str(error), err=True)
        count = len(exc.errors)
        click.echo(f"{count} problem{'s' if count != 1 else ''} in {path}", err=True)
        raise SystemExit(EXIT_POLICY_INVALID) from None


@policy.command("evaluate")
@click.argument("policy_file", metavar="POLICY", type=click.Path(dir_okay=False))
@click.argument("request_file", metavar="REQUEST", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--compact", is_flag=True, help="Print the JSON on one line.")
def evaluate_command(policy_file: str, request_file: str, compact: bool) -> None:
    """Decide a return REQUEST (JSON, or - for stdin) under POLICY (YAML); print JSON."""
    loaded, text = _load_or_exit(policy_file)
    compiled = compile_policy(loaded, policy_sha256(text))
    try:
        if request_file == "-":
            raw = sys.stdin.read()
        else:
            raw = Path(request_file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        click.echo(f"{request_file}: can't read the request: {exc}", err=True)
        raise SystemExit(EXIT_REQUEST_INVALID) from None
    try:
        decision = evaluate(compiled, parse_request_json(raw, compiled.reasons))
    except RequestError as exc:
        for problem in exc.problems:
            click.echo(f"{request_file}: {problem}", err=True)
        raise SystemExit(EXIT_REQUEST_INVALID) from None
    document = decision.to_dict()
    if compact:
        click.echo(json.dumps(document, ensure_ascii=False, separators=(",", ":")))
    else:
        click.echo(json.dumps(document, ensure_ascii=False, indent=2))


@policy.command("check")
@click.argument("policy_file", metavar="POLICY", type=click.Path(dir_okay=False))
def check_command(policy_file: str) -> None:
    """Validate POLICY; print its errors (exit 2) or a summary of what it does."""
    loaded, _text = _load_or_exit(policy_file)
    click.echo(describe_policy(loaded))


# ---------------------------------------------------------------------------
# human summary


def _money(policy: Policy, minor: int) -> str:
    exponent = policy.exponent
    amount = Decimal(minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))
    return f"{policy.currency} {amount}"


def _pct(value: Decimal) -> str:
    return f"{value.normalize():f}%"


def _list(values: tuple[str, ...]) -> str:
    return ", ".join(values)


def _describe_when(policy: Policy, cond: Conditions | None) -> str:
    if cond is None:
        return "always"
    parts: list[str] = []
    phrases = {
        "tags_any": "tags include any of",
        "tags_all": "tags include all of",
        "tags_none": "tags include none of",
        "order_tags_any": "order tagged",
        "customer_tags_any": "customer tagged",
        "product_type_in": "product type is",
        "vendor_in": "vendor is",
        "sku_matches": "SKU matches",
        "reason_in": "reason is",
        "country_in": "ships to",
        "country_not_in": "doesn't ship to",
    }
    for key, phrase in phrases.items():
        value = getattr(cond, key)
        if value is not None:
            parts.append(f"{phrase} {_list(value)}")
    money = {
        "unit_price_below": "unit price below",
        "unit_price_at_least": "unit price at least",
        "order_total_below": "order total below",
        "order_total_at_least": "order total at least",
    }
    for key, phrase in money.items():
        value = getattr(cond, key)
        if value is not None:
            parts.append(f"{phrase} {_money(policy, value)}")
    if cond.discounted is not None:
        parts.append("line discounted" if cond.discounted else "line not discounted")
    if cond.days_since_delivery_over is not None:
        parts.append(f"more than {cond.days_since_delivery_over} days since delivery")
    if cond.any is not None:
        parts.append("(" + " or ".join(_describe_when(policy, c) for c in cond.any) + ")")
    if cond.not_ is not None:
        parts.append(f"not ({_describe_when(policy, cond.not_)})")
    return " and ".join(parts) if parts else "always"


def _describe_then(policy: Policy, then: Effects) -> str:
    parts: list[str] = []
    if then.deny is not None:
        parts.append(f'deny: "{then.deny}"')
    if then.window_days is not None:
        parts.append(f"window {then.window_days} days")
    if then.resolutions is not None:
        parts.append(f"offer {_list(then.resolutions)}")
    if then.keep_item is not None:
        parts.append("shopper keeps the item" if then.keep_item else "item ships back")
    if then.require_review is not None:
        parts.append("needs review" if then.require_review else "no review")
    if then.require_photo is not None:
        parts.append("photo required" if then.require_photo else "no photo")
    if then.restocking_fee_percent is not None:
        parts.append(f"restocking fee {_pct(then.restocking_fee_percent)}")
    if then.waive_fees is not None:
        parts.append("no fees" if then.waive_fees else "fees apply")
    if then.store_credit_bonus_percent is not None:
        parts.append(f"store-credit bonus {_pct(then.store_credit_bonus_percent)}")
    if then.destination is not None:
        parts.append(f"ship to {then.destination}")
    return "; ".join(parts) if parts else "nothing (listed in explanations only)"


def describe_policy(policy: Policy) -> str:
    """A one-screen summary a merchant can read to confirm what the policy does."""
    out = [f"{policy.name} — {policy.currency}, dates in {policy.timezone}"]
    basis = {"delivered": "delivery", "fulfilled": "fulfilment", "ordered": "the order date"}
    out.append(f"Window: {policy.window.days} days from {basis[policy.window.from_]}")
    for ext in policy.extensions:
        out.append(
            f"Extension: orders placed {ext.ordered_from} to {ext.ordered_to} "
            f"may come back until {ext.until}"
        )
    reasons = []
    for reason in policy.reasons:
        notes = [n for n, on in (("merchant fault", reason.fault == "merchant"),
                                 ("photo", reason.requires_photo)) if on]  # fmt: skip
        reasons.append(reason.code + (f" ({', '.join(notes)})" if notes else ""))
    out.append(f"Reasons: {', '.join(reasons)}")
    out.append(f"Resolutions: {_list(policy.resolutions)}")
    credit = policy.store_credit
    line = f"Store credit: bonus {_pct(credit.bonus_percent)}"
    if credit.bonus_cap is not None:
        line += f" (at most {_money(policy, credit.bonus_cap)} per return)"
    line += ", issued " + ("instantly" if credit.issue == "instant" else "on receipt")
    if credit.expires_days is not None:
        line += f", expires after {credit.expires_days} days"
    out.append(line)
    fees = policy.fees
    line = (
        f"Fees: restocking {_pct(fees.restocking_percent)}, label {_money(policy, fees.label_fee)}"
    )
    if fees.waive_for:
        line += f"; not charged on {_list(fees.waive_for)}"
    out.append(line + "; never for merchant-fault reasons")
    out.append(
        "Warehouses: "
        + ", ".join(
            f"{wid} ({w.name}{', default' if i == 0 else ''})"
            for i, (wid, w) in enumerate(policy.warehouses.items())
        )
    )
    approval = policy.approval
    if approval.auto_approve_refunds_below is None:
        line = "Approval: every refund needs approval"
    else:
        below = _money(policy, approval.auto_approve_refunds_below)
        line = f"Approval: refunds below {below} are approved automatically"
    if approval.always_review_customer_tags:
        line += f"; always review customers tagged {_list(approval.always_review_customer_tags)}"
    out.append(line)
    out.append(f"Rules ({len(policy.rules)}, applied in order; later rules override earlier):")
    for index, rule in enumerate(policy.rules, start=1):
        out.append(
            f"  {index}. {rule.name}: when {_describe_when(policy, rule.when)} "
            f"→ {_describe_then(policy, rule.then)}"
        )
    return "\n".join(out)


if __name__ == "__main__":
    policy(prog_name="policy")
