"""Pydantic models of a validated return policy.

The models are the *validated* form of a merchant's YAML file: every value has
been type-checked, money has been parsed exactly (``Decimal``) and converted to
integer minor units of the policy currency, and dates are ``datetime.date``.
Cross-references (warehouse ids, reason codes, rule names) are checked by the
loader, which also turns pydantic's errors into merchant-readable sentences
with line and column; these models stay usable on their own (for example when
a policy is built in code for a test).
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from portal.money.currency import MINOR_UNITS

__all__ = [
    "CURRENCY_EXPONENTS",
    "RESOLUTIONS",
    "Approval",
    "Conditions",
    "Effects",
    "Extension",
    "Fees",
    "Policy",
    "Reason",
    "Rule",
    "StoreCredit",
    "Timelines",
    "Warehouse",
    "Window",
    "currency_exponent",
    "parse_money",
]

# ISO 4217 minor-unit exponents live with the rest of the money rules.
CURRENCY_EXPONENTS: dict[str, int] = MINOR_UNITS

Resolution = Literal["exchange", "store_credit", "refund"]

RESOLUTIONS: tuple[Resolution, ...] = ("exchange", "store_credit", "refund")

# The money validator needs the policy's currency, which is a sibling field of
# the money values; `Policy` publishes the (valid) code here while it validates.
_CURRENCY: ContextVar[str | None] = ContextVar("policy_currency", default=None)


def currency_exponent(code: str) -> int:
    """Number of decimals of an ISO 4217 currency (KeyError when unknown)."""
    return CURRENCY_EXPONENTS[code.upper()]


def _error(message: str, **ctx: Any) -> PydanticCustomError:
    """A pydantic error whose message the loader shows to the merchant verbatim."""
    return PydanticCustomError("policy", message, ctx or None)


def parse_money(value: Any, exponent: int, currency: str = "the currency") -> int:
    """Parse a major-unit amount exactly and return integer minor units.

    ``9.95`` in USD is 995. ``9.950`` is accepted because it is exactly 995 cents;
    only values that cannot be expressed in the currency's minor unit are refused.
    """
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise _error("must be an amount of money such as `9.95`")
    try:
        amount = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    except InvalidOperation:
        raise _error("must be an amount of money such as `9.95`") from None
    if not amount.is_finite():
        raise _error("must be an amount of money such as `9.95`")
    if amount < 0:
        raise _error("can't be negative")
    minor = amount.scaleb(exponent)
    if minor != minor.to_integral_value():
        places = "no decimals" if exponent == 0 else f"{exponent} decimals"
        raise _error(
            "`{value}` has more decimals than {currency} allows ({currency} has {places})",
            value=str(value),
            currency=currency,
            places=places,
        )
    return int(minor)


def _money(value: Any) -> Any:
    currency = _CURRENCY.get()
    if currency is None:
        # No (valid) currency: still check the value looks like money so the
        # merchant sees every problem at once; the policy fails on the currency.
        parse_money(value, 18)
        return 0
    return parse_money(value, CURRENCY_EXPONENTS[currency], currency)


def _percent(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise _error("must be a percentage such as `15` or `12.5`")
    amount = Decimal(value)
    if not amount.is_finite() or amount < 0 or amount > 100:
        raise _error("must be a percentage between 0 and 100")
    return amount


def _date(value: Any) -> Any:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _error("`{value}` is not a valid date; write it as YYYY-MM-DD", value=str(value))


def _address(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str | int) and not isinstance(v, bool)
        for k, v in value.items()
    ):
        return {k: str(v) for k, v in value.items()}
    raise _error("must be an address written as text or as a mapping of text fields")


Money = Annotated[int, BeforeValidator(_money)]
Percent = Annotated[Decimal, BeforeValidator(_percent)]
PolicyDate = Annotated[date, BeforeValidator(_date)]
Address = Annotated[str | dict[str, str], BeforeValidator(_address)]
NonNegInt = Annotated[StrictInt, Field(ge=0)]
Text = Annotated[StrictStr, Field(min_length=1)]
Tags = Annotated[tuple[Text, ...], Field(min_length=1)]

_COUNTRY = re.compile(r"^[A-Za-z]{2}$")


class _Model(BaseModel):
    """Shared config: immutable, unknown keys are errors, aliases for `from`/`not`."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Window(_Model):
    """How long a shopper has, counted from which event."""

    days: NonNegInt = 30
    from_: Literal["delivered", "fulfilled", "ordered"] = Field("delivered", alias="from")


class Extension(_Model):
    """Orders placed in [ordered_from, ordered_to] may come back until `until`."""

    ordered_from: PolicyDate
    ordered_to: PolicyDate
    until: PolicyDate

    @model_validator(mode="after")
    def _span_in_order(self) -> Extension:
        if self.ordered_from > self.ordered_to:
            raise _error("`ordered_from` is after `ordered_to`; the span is empty")
        return self


class Reason(_Model):
    """A return reason the shopper can pick."""

    code: Text
    label: Text
    fault: Literal["customer", "merchant"] = "customer"
    requires_photo: StrictBool = False


class StoreCredit(_Model):
    """Store-credit bonus and issuing terms."""

    bonus_percent: Percent = Decimal(0)
    bonus_cap: Money | None = None
    issue: Literal["instant", "on_receipt"] = "on_receipt"
    expires_days: Annotated[StrictInt, Field(ge=1)] | None = None


class Fees(_Model):
    """Restocking and label fees, and the resolutions that are spared them."""

    restocking_percent: Percent = Decimal(0)
    label_fee: Money = 0
    waive_for: tuple[Resolution, ...] = ()

    @field_validator("waive_for", mode="before")
    @classmethod
    def _empty_when_blank(cls, value: Any) -> Any:
        return () if value is None else value


class Warehouse(_Model):
    """A place returns ship to."""

    name: Text
    address: Address


class Approval(_Model):
    """When a refund may go out without a person approving it."""

    auto_approve_refunds_below: Money | None = None
    always_review_customer_tags: tuple[Text, ...] = ()

    @field_validator("always_review_customer_tags", mode="before")
    @classmethod
    def _empty_when_blank(cls, value: Any) -> Any:
        return () if value is None else value


class Timelines(_Model):
    """Operational deadlines used by the scheduled jobs (not by the evaluator)."""

    ship_within_days: NonNegInt = 14
    remind_after_days: NonNegInt = 7
    refund_within_days_of_receipt: NonNegInt = 5


class Conditions(_Model):
    """A rule's `when`: every key present must hold."""

    tags_any: Tags | None = None
    tags_all: Tags | None = None
    tags_none: Tags | None = None
    order_tags_any: Tags | None = None
    customer_tags_any: Tags | None = None
    product_type_in: Tags | None = None
    vendor_in: Tags | None = None
    sku_matches: Tags | None = None
    reason_in: Tags | None = None
    country_in: Tags | None = None
    country_not_in: Tags | None = None
    unit_price_below: Money | None = None
    unit_price_at_least: Money | None = None
    order_total_below: Money | None = None
    order_total_at_least: Money | None = None
    discounted: StrictBool | None = None
    days_since_delivery_over: NonNegInt | None = None
    any: Annotated[tuple[Conditions, ...], Field(min_length=1)] | None = None
    not_: Conditions | None = Field(None, alias="not")

    @field_validator("country_in", "country_not_in")
    @classmethod
    def _countries(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        for code in value:
            if not _COUNTRY.match(code):
                raise _error(
                    "`{code}` is not a country code; use two-letter ISO codes such as `DE`",
                    code=code,
                )
        return tuple(code.upper() for code in value)


class Effects(_Model):
    """A rule's `then`: what happens to a line the rule matches."""

    deny: Text | None = None
    window_days: NonNegInt | None = None
    resolutions: Annotated[tuple[Resolution, ...], Field(min_length=1)] | None = None
    keep_item: StrictBool | None = None
    require_review: StrictBool | None = None
    require_photo: StrictBool | None = None
    restocking_fee_percent: Percent | None = None
    waive_fees: StrictBool | None = None
    store_credit_bonus_percent: Percent | None = None
    destination: Text | None = None

    @field_validator("resolutions")
    @classmethod
    def _no_repeats(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return _unique_resolutions(value)


class Rule(_Model):
    """One named `when` → `then` rule."""

    name: Text
    when: Conditions | None = None
    then: Effects


def _unique_resolutions(value: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if value is not None and len(set(value)) != len(value):
        raise _error("lists a resolution more than once")
    return value


class Policy(_Model):
    """A merchant's whole return policy, validated."""

    name: Text
    currency: StrictStr
    timezone: StrictStr = "UTC"
    window: Window = Window()
    extensions: tuple[Extension, ...] = ()
    reasons: Annotated[tuple[Reason, ...], Field(min_length=1)]
    resolutions: Annotated[tuple[Resolution, ...], Field(min_length=1)] = RESOLUTIONS
    store_credit: StoreCredit = StoreCredit()
    fees: Fees = Fees()
    warehouses: Annotated[dict[Text, Warehouse], Field(min_length=1)]
    approval: Approval = Approval()
    timelines: Timelines = Timelines()
    rules: tuple[Rule, ...] = ()

    @model_validator(mode="wrap")
    @classmethod
    def _with_currency(cls, data: Any, handler: Any) -> Policy:
        """Make the currency visible to the money fields while validating."""
        currency = None
        if isinstance(data, dict) and isinstance(data.get("currency"), str):
            code = data["currency"].upper()
            currency = code if code in CURRENCY_EXPONENTS else None
        token = _CURRENCY.set(currency)
        try:
            return handler(data)
        finally:
            _CURRENCY.reset(token)

    @field_validator("extensions", "rules", mode="before")
    @classmethod
    def _empty_when_blank(cls, value: Any) -> Any:
        # `rules:` with every rule commented out means "no rules", not an error.
        return () if value is None else value

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        code = value.upper()
        if code not in CURRENCY_EXPONENTS:
            raise _error("unknown currency `{code}`; use an ISO 4217 code such as USD", code=value)
        return code

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise _error(
                "unknown time zone `{zone}`; use an IANA name such as Europe/Berlin",
                zone=value,
            ) from None
        return value

    @field_validator("resolutions")
    @classmethod
    def _no_repeats(cls, value: tuple[str, ...]) -> tuple[str, ...] | None:
        return _unique_resolutions(value)

    @property
    def exponent(self) -> int:
        """Decimals of the policy currency."""
        return CURRENCY_EXPONENTS[self.currency]

    @property
    def default_warehouse(self) -> str:
        """The first warehouse listed is where lines ship unless a rule says otherwise."""
        return next(iter(self.warehouses))
