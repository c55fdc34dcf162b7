"""The merchant's store settings: branding, carriers, parcel sizes and warehouses.

One ``StoreSettings`` row (id 1) holds what the merchant changed in the console; a missing
row or a null column means "use the operator's environment default" (``portal.settings``).
``load_effective`` merges the two. Every save validates the whole section first (invalid
input changes nothing), then writes the row and one audit event with before and after.

Warehouses are not stored here: they live in the return policy (``warehouses:``), so a
warehouse edit publishes a new policy version whose ``warehouses:`` block is replaced
textually (comments elsewhere in the file are kept).

Caching: web pages read branding through ``SettingsCache`` (one primary-key lookup at most
every ``ttl`` seconds per process). The process that saves invalidates its cache at once;
other processes and replicas see the change within ``ttl`` seconds. Jobs always read the
database when they run.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.audit import record
from portal.errors import Invalid
from portal.merchant.policy_editor import EditorError, publish_text
from portal.models.base import utcnow
from portal.models.merchant import StoreSettings
from portal.models.outbox import Media
from portal.policy.loader import PolicyLoadError
from portal.policy.versions import active_version, compiled
from portal.returns.photos import photo_file, save_media, sniff_image
from portal.returns.shipping import DEFAULT_PARCELS, FALLBACK_PARCEL
from portal.settings import Settings

ROW_ID = 1
FALLBACK_KEY = "*"  # the parcel used for product types without a row of their own
LOGO_PATH = "/brand/logo"
MAX_LOGO_BYTES = 1024 * 1024
LOGO_TYPES = {"image/png": "png", "image/jpeg": "jpg"}
MAX_NAME = 120
MAX_PREFERENCES = 10
MAX_PARCEL_ROWS = 40
MAX_DIMENSION_IN = 108.0  # the longest side carriers take as a parcel
MAX_WEIGHT_OZ = 1120.0  # 70 lb per unit
CACHE_SECONDS = 5.0

_HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_EMAIL = re.compile(
    r"^[^@\s<>\"',;]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$"
)
_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.&-]{0,39}$")
_PRODUCT_TYPE = re.compile(r"^[a-z0-9][a-z0-9 _&/-]{0,59}$")
_WAREHOUSE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class SettingsError(Invalid):
    """Input the settings cannot take; ``errors`` maps each form field to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors.values()), errors)


# --- Effective settings ------------------------------------------------------------------


@dataclass(frozen=True)
class Branding:
    """How the store presents itself on pages, e-mails and slips."""

    name: str
    logo_url: str | None
    brand_color: str
    accent_color: str
    support_email: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "logo_url": self.logo_url,
            "brand_color": self.brand_color,
            "accent_color": self.accent_color,
            "support_email": self.support_email,
        }

    def absolute(self, base_url: str) -> Branding:
        """The same branding with the logo as a full URL (for e-mails)."""
        if self.logo_url and self.logo_url.startswith("/"):
            return Branding(**{**self.as_dict(), "logo_url": base_url + self.logo_url})
        return self


ParcelSize = tuple[float, float, float, float]  # length, width, height (in), oz per unit


@dataclass(frozen=True)
class EffectiveSettings:
    branding: Branding
    carrier_preferences: tuple[str, ...]
    service_preferences: tuple[str, ...]
    parcels: dict[str, ParcelSize]
    fallback_parcel: ParcelSize
    logo_media_id: int | None = None
    # which values come from the merchant (True) rather than the operator's defaults
    overridden: dict[str, bool] = field(default_factory=dict)
    updated_at: Any = None
    updated_by: str | None = None


def split_list(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in re.split(r"[,\n]", value) if part.strip())


def _parcel(dims: Sequence[float]) -> ParcelSize:
    """Four numbers as floats (stored JSON and the defaults may hold ints)."""
    length, width, height, weight = (float(x) for x in dims)
    return (length, width, height, weight)


def default_parcels() -> dict[str, ParcelSize]:
    return {kind: _parcel(dims) for kind, dims in DEFAULT_PARCELS.items()}


def effective_from_row(row: StoreSettings | None, settings: Settings) -> EffectiveSettings:
    """The row merged over the operator's environment defaults."""
    r = row or StoreSettings(id=ROW_ID)
    brand = r.brand_color or settings.brand_color
    if r.logo_media_id:
        logo_url: str | None = f"{LOGO_PATH}?v={r.logo_media_id}"
    else:
        logo_url = settings.store_logo_url
    if r.parcel_sizes is not None:
        table = {
            k: _parcel(v) for k, v in r.parcel_sizes.items() if k != FALLBACK_KEY and len(v) == 4
        }
        fallback_raw = r.parcel_sizes.get(FALLBACK_KEY)
        fallback = (
            _parcel(fallback_raw)
            if fallback_raw and len(fallback_raw) == 4
            else _parcel(FALLBACK_PARCEL)
        )
    else:
        table = default_parcels()
        fallback = _parcel(FALLBACK_PARCEL)
    return EffectiveSettings(
        branding=Branding(
            name=r.store_name or settings.store_name,
            logo_url=logo_url,
            brand_color=brand,
            accent_color=r.accent_color or brand,
            support_email=r.support_email or settings.support_email,
        ),
        carrier_preferences=(
            tuple(r.carrier_preferences)
            if r.carrier_preferences is not None
            else split_list(settings.carrier_preferences)
        ),
        service_preferences=(
            tuple(r.service_preferences)
            if r.service_preferences is not None
            else split_list(settings.service_preferences)
        ),
        parcels=table,
        fallback_parcel=fallback,
        logo_media_id=r.logo_media_id,
        overridden={
            "store_name": r.store_name is not None,
            "logo": r.logo_media_id is not None,
            "brand_color": r.brand_color is not None,
            "accent_color": r.accent_color is not None,
            "support_email": r.support_email is not None,
            "carrier_preferences": r.carrier_preferences is not None,
            "service_preferences": r.service_preferences is not None,
            "parcel_sizes": r.parcel_sizes is not None,
        },
        updated_at=r.updated_at if row is not None else None,
        updated_by=r.updated_by,
    )


async def load_effective(session: AsyncSession, settings: Settings) -> EffectiveSettings:
    """One primary-key lookup: the effective settings right now."""
    return effective_from_row(await session.get(StoreSettings, ROW_ID), settings)


class SettingsCache:
    """A tiny per-process cache of the effective settings (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        ttl: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.ttl = ttl
        self._clock = clock
        self._value: EffectiveSettings | None = None
        self._expires = 0.0

    def invalidate(self) -> None:
        self._value = None
        self._expires = 0.0

    async def get(self, db: Any) -> EffectiveSettings:
        now = self._clock()
        if self._value is not None and now < self._expires:
            return self._value
        async with db.session() as session:
            value = await load_effective(session, self.settings)
        self._value, self._expires = value, now + self.ttl
        return value


# --- Saving ------------------------------------------------------------------------------


async def _row_for_update(session: AsyncSession) -> StoreSettings:
    row = await session.get(StoreSettings, ROW_ID, with_for_update=True)
    if row is None:
        row = StoreSettings(id=ROW_ID)
    return row


async def _commit(
    session: AsyncSession, row: StoreSettings, actor: str, action: str, before: Any, after: Any
) -> None:
    row.updated_at = utcnow()
    row.updated_by = actor[:320]
    session.add(row)
    try:
        await session.flush()
        await record(
            session,
            actor,
            "store_settings",
            ROW_ID,
            action,
            data={"before": before, "after": after},
        )
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise SettingsError(
            {"form": "Someone else saved the settings at the same moment; please try again."}
        ) from None


def _clean_colour(value: str, label: str, key: str, errors: dict[str, str]) -> str | None:
    value = value.strip()
    if not value:
        return None
    if not _HEX.match(value):
        errors[key] = f"{label} must be a hex colour such as #1f5f8b"
        return None
    if len(value) == 4:  # #abc -> #aabbcc
        value = "#" + "".join(c * 2 for c in value[1:])
    return value.lower()


@dataclass(frozen=True)
class LogoUpload:
    data: bytes
    filename: str = ""


def check_logo(data: bytes) -> str:
    """The content type of an acceptable logo; raises SettingsError otherwise."""
    if not data:
        raise SettingsError({"logo": "The logo file is empty. Please choose the image again."})
    if len(data) > MAX_LOGO_BYTES:
        raise SettingsError(
            {
                "logo": f"The logo is {len(data) / 1048576:.1f} MB; the limit is 1 MB. "
                "Please upload a smaller PNG or JPEG."
            }
        )
    content_type = sniff_image(data)
    if content_type not in LOGO_TYPES:
        raise SettingsError({"logo": "The logo must be a PNG or JPEG image."})
    return content_type


def _branding_snapshot(row: StoreSettings) -> dict[str, Any]:
    return {
        "store_name": row.store_name,
        "logo_media_id": row.logo_media_id,
        "brand_color": row.brand_color,
        "accent_color": row.accent_color,
        "support_email": row.support_email,
    }


async def save_branding(
    session: AsyncSession,
    media_dir: Path,
    actor: str,
    *,
    store_name: str,
    brand_color: str,
    accent_color: str,
    support_email: str,
    logo: LogoUpload | None = None,
    remove_logo: bool = False,
) -> StoreSettings:
    """Validate and save the branding section; blank fields go back to the defaults."""
    errors: dict[str, str] = {}
    name = " ".join(store_name.split())
    if len(name) > MAX_NAME:
        errors["store_name"] = f"Store name must be at most {MAX_NAME} characters"
    elif _CONTROL.search(store_name.replace("\n", " ").replace("\t", " ")):
        errors["store_name"] = "Store name must be plain text"
    brand = _clean_colour(brand_color, "Brand colour", "brand_color", errors)
    accent = _clean_colour(accent_color, "Accent colour", "accent_color", errors)
    email = support_email.strip()
    if email and (len(email) > 320 or not _EMAIL.match(email)):
        errors["support_email"] = (
            "Support e-mail must be an e-mail address such as support@yourstore.com"
        )
    content_type = None
    if logo is not None and logo.data:
        try:
            content_type = check_logo(logo.data)
        except SettingsError as exc:
            errors.update(exc.errors)
    if errors:
        raise SettingsError(errors)

    row = await _row_for_update(session)
    before = _branding_snapshot(row)
    row.store_name = name or None
    row.brand_color = brand
    row.accent_color = accent
    row.support_email = email or None
    if logo is not None and content_type is not None:
        media = await _store_logo(session, media_dir, logo.data, content_type, actor)
        row.logo_media_id = media.id
    elif remove_logo:
        row.logo_media_id = None
    await _commit(session, row, actor, "branding_saved", before, _branding_snapshot(row))
    return row


async def _store_logo(
    session: AsyncSession, media_dir: Path, data: bytes, content_type: str, actor: str
) -> Media:
    digest = hashlib.sha256(data).hexdigest()
    relative = Path("brand") / f"{digest[:16]}-{uuid.uuid4().hex[:8]}.{LOGO_TYPES[content_type]}"
    return await save_media(session, media_dir, relative, data, content_type, None, actor)


async def current_logo(session: AsyncSession) -> Media | None:
    """The logo media the settings point at (and nothing else is ever served as the logo)."""
    row = await session.get(StoreSettings, ROW_ID)
    if row is None or row.logo_media_id is None:
        return None
    return await session.get(Media, row.logo_media_id)


async def logo_data_uri(session: AsyncSession, media_dir: Path) -> str | None:
    """The merchant's uploaded logo as a ``data:`` URI for documents, or None."""
    media = await current_logo(session)
    path = photo_file(media_dir, media) if media else None
    if media is None or path is None:
        return None
    data = await asyncio.to_thread(path.read_bytes)
    return f"data:{media.content_type};base64,{base64.b64encode(data).decode('ascii')}"


def _clean_tokens(value: str, label: str, key: str, errors: dict[str, str]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for token in split_list(value):
        if not _TOKEN.match(token):
            errors[key] = (
                f"{label}: `{token[:40]}` is not a name we can use; use letters, digits, "
                "dots, dashes or underscores (e.g. USPS, GroundAdvantage)"
            )
            return []
        if token.lower() not in seen:
            seen.add(token.lower())
            out.append(token)
    if len(out) > MAX_PREFERENCES:
        errors[key] = f"{label}: at most {MAX_PREFERENCES} names"
    return out


async def save_carriers(
    session: AsyncSession, actor: str, *, carriers: str, services: str
) -> StoreSettings:
    """Save the preferred carriers and services, in order (blank: the cheapest rate)."""
    errors: dict[str, str] = {}
    carrier_list = _clean_tokens(carriers, "Carriers", "carrier_preferences", errors)
    service_list = _clean_tokens(services, "Services", "service_preferences", errors)
    if errors:
        raise SettingsError(errors)
    row = await _row_for_update(session)
    before = {"carriers": row.carrier_preferences, "services": row.service_preferences}
    row.carrier_preferences = carrier_list
    row.service_preferences = service_list
    await _commit(
        session,
        row,
        actor,
        "carriers_saved",
        before,
        {"carriers": carrier_list, "services": service_list},
    )
    return row


@dataclass
class ParcelRow:
    """One row of the parcel-size form, as typed."""

    product_type: str = ""
    length: str = ""
    width: str = ""
    height: str = ""
    weight: str = ""
    remove: bool = False

    def blank(self) -> bool:
        return not any(
            v.strip()
            for v in (self.product_type, self.length, self.width, self.height, self.weight)
        )


_PARCEL_FIELDS = (
    ("length", "length", "inches", MAX_DIMENSION_IN),
    ("width", "width", "inches", MAX_DIMENSION_IN),
    ("height", "height", "inches", MAX_DIMENSION_IN),
    ("weight", "weight per unit", "ounces", MAX_WEIGHT_OZ),
)


def _parcel_numbers(
    row: ParcelRow, prefix: str, label: str, errors: dict[str, str]
) -> list[float] | None:
    numbers: list[float] = []
    for attr, name, unit, limit in _PARCEL_FIELDS:
        raw = getattr(row, attr).strip()
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if not (0 < value <= limit):  # also refuses NaN and infinities
            errors[f"{prefix}-{attr}"] = (
                f"{label}: {name} must be a number of {unit} above 0 and at most {limit:g}"
            )
            continue
        numbers.append(round(value, 2))
    return numbers if len(numbers) == 4 else None


async def save_parcels(
    session: AsyncSession, actor: str, rows: list[ParcelRow], fallback: ParcelRow
) -> StoreSettings:
    """Replace the parcel-size table (rows ticked "remove" or left blank are dropped)."""
    errors: dict[str, str] = {}
    table: dict[str, list[float]] = {}
    kept = [(i, r) for i, r in enumerate(rows) if not r.remove and not r.blank()]
    if len(kept) > MAX_PARCEL_ROWS:
        errors["parcels"] = f"At most {MAX_PARCEL_ROWS} product types"
    for i, r in kept:
        kind = " ".join(r.product_type.strip().lower().split())
        label = f"Row {i + 1} ({kind})" if kind else f"Row {i + 1}"
        if not kind:
            errors[f"parcel-{i}-product_type"] = f"Row {i + 1}: enter the product type"
        elif not _PRODUCT_TYPE.match(kind):
            errors[f"parcel-{i}-product_type"] = (
                f"{label}: product type must be letters, digits, spaces or dashes"
            )
        elif kind in table:
            errors[f"parcel-{i}-product_type"] = f"{label}: {kind} is listed twice"
        numbers = _parcel_numbers(r, f"parcel-{i}", label, errors)
        if numbers is not None and kind:
            table[kind] = numbers
    fallback_numbers = _parcel_numbers(fallback, "fallback", "Any other product", errors)
    if errors or fallback_numbers is None:  # no numbers only ever comes with an error
        raise SettingsError(errors)
    table[FALLBACK_KEY] = fallback_numbers
    row = await _row_for_update(session)
    before = row.parcel_sizes
    row.parcel_sizes = table
    await _commit(session, row, actor, "parcel_sizes_saved", before, table)
    return row


async def reset_section(session: AsyncSession, actor: str, section: str) -> StoreSettings:
    """Forget the merchant's values for one section: the operator's defaults apply again."""
    columns = {
        "branding": ("store_name", "logo_media_id", "brand_color", "accent_color", "support_email"),
        "carriers": ("carrier_preferences", "service_preferences"),
        "parcels": ("parcel_sizes",),
    }.get(section)
    if columns is None:
        raise SettingsError({"form": "There is no such settings section."})
    row = await _row_for_update(session)
    before = {c: getattr(row, c) for c in columns}
    for c in columns:
        setattr(row, c, None)
    await _commit(session, row, actor, f"{section}_reset", before, dict.fromkeys(columns))
    return row


# --- Warehouses (in the policy) ------------------------------------------------------------

ADDRESS_FIELDS = ("line1", "line2", "city", "region", "postal_code", "country", "phone")


@dataclass
class WarehouseForm:
    """A warehouse as the form shows and submits it."""

    id: str = ""
    name: str = ""
    line1: str = ""
    line2: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""
    phone: str = ""
    is_new: bool = False


class _AddressParts(TypedDict, total=False):
    line1: str
    line2: str
    city: str
    region: str
    postal_code: str
    country: str
    phone: str


def _address_parts(raw: Any) -> _AddressParts:
    if isinstance(raw, str):
        parts = [p.strip() for p in raw.replace("\n", ",").split(",") if p.strip()]
        return {"line1": parts[0] if parts else "", "city": parts[1] if len(parts) > 1 else ""}
    raw = dict(raw or {})
    return {
        "line1": raw.get("line1") or raw.get("street1") or raw.get("street", ""),
        "line2": raw.get("line2") or raw.get("street2") or "",
        "city": raw.get("city", ""),
        "region": raw.get("region") or raw.get("state", ""),
        "postal_code": raw.get("postal_code") or raw.get("zip", ""),
        "country": raw.get("country", ""),
        "phone": raw.get("phone", ""),
    }


def warehouse_forms(policy: Any) -> list[WarehouseForm]:
    """The policy's warehouses, first (the default destination) first."""
    return [
        WarehouseForm(id=wid, name=w.name, **_address_parts(w.address))
        for wid, w in policy.warehouses.items()
    ]


def _validate_warehouse(form: WarehouseForm, existing: list[str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    wid = form.id.strip()
    if form.is_new:
        if not _WAREHOUSE_ID.match(wid):
            errors["id"] = (
                "Warehouse id must be lower-case letters, digits, dashes or underscores (e.g. east)"
            )
        elif wid in existing:
            errors["id"] = f"There is already a warehouse `{wid}`; edit it instead"
    elif wid not in existing:
        errors["id"] = f"The policy has no warehouse `{wid}` any more; reload the page"
    if not form.name.strip():
        errors["name"] = "Enter the warehouse's name"
    for key, label in (
        ("line1", "street address"),
        ("city", "city"),
        ("postal_code", "postal code"),
        ("country", "country"),
    ):
        if not getattr(form, key).strip():
            errors[key] = f"Enter the {label}"
    if form.country.strip() and not _COUNTRY.match(form.country.strip()):
        errors["country"] = "Country must be a two-letter ISO code such as US or DE"
    for key in ("name", *ADDRESS_FIELDS):
        value = getattr(form, key)
        if len(value) > 200 or _CONTROL.search(value):
            errors[key] = "Use plain text of at most 200 characters"
    return errors


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def _key(value: str) -> str:
    return (
        value if _WAREHOUSE_ID.match(value) or re.match(r"^[A-Za-z_]\w*$", value) else _quote(value)
    )


def warehouses_block(warehouses: list[tuple[str, str, str | dict[str, str]]]) -> str:
    """The ``warehouses:`` block for (id, name, address) in order, every value quoted."""
    lines = ["warehouses:"]
    for wid, name, address in warehouses:
        lines.append(f"  {_key(wid)}:")
        lines.append(f"    name: {_quote(name)}")
        if isinstance(address, str):
            lines.append(f"    address: {_quote(address)}")
            continue
        lines.append("    address:")
        for key, value in address.items():
            lines.append(f"      {_key(key)}: {_quote(value)}")
    return "\n".join(lines) + "\n"


def replace_warehouses_block(text: str, block: str) -> str:
    """``text`` with its top-level ``warehouses:`` block replaced by ``block``.

    The block is the ``warehouses:`` line and every following line that is indented or
    blank, up to the last indented one; comments and keys at column 0 after it are kept.
    """
    lines = text.splitlines(keepends=True)
    start = next(
        (i for i, line in enumerate(lines) if re.match(r"^warehouses\s*:", line)),
        None,
    )
    if start is None:
        sep = "" if not text or text.endswith("\n") else "\n"
        return text + sep + "\n" + block
    end = start + 1
    last_content = start
    while end < len(lines):
        line = lines[end]
        if line.strip() == "" or line[:1] in (" ", "\t"):
            if line.strip():
                last_content = end
            end += 1
            continue
        break
    return "".join(lines[:start]) + block + "".join(lines[last_content + 1 :])


def warehouse_policy_text(policy_text: str, policy: Any, form: WarehouseForm) -> str:
    """Validate ``form`` and return the policy text with that warehouse edited or added.

    Raises SettingsError with field errors; the result still has to load as a policy.
    """
    existing = list(policy.warehouses)
    errors = _validate_warehouse(form, existing)
    if errors:
        raise SettingsError(errors)
    entries: list[tuple[str, str, str | dict[str, str]]] = []
    wid = form.id.strip()
    new_address = {
        key: (
            getattr(form, key).strip().upper() if key == "country" else getattr(form, key).strip()
        )
        for key in ADDRESS_FIELDS
        if getattr(form, key).strip()
    }
    for other_id, w in policy.warehouses.items():
        if other_id == wid:
            # keep extra keys the merchant wrote by hand; replace the ones the form edits
            kept = (
                {
                    k: str(v)
                    for k, v in w.address.items()
                    if k
                    not in (
                        *ADDRESS_FIELDS,
                        "street1",
                        "street2",
                        "street",
                        "state",
                        "zip",
                    )
                }
                if isinstance(w.address, dict)
                else {}
            )
            entries.append((wid, " ".join(form.name.split()), {**new_address, **kept}))
        else:
            address: str | dict[str, str] = (
                {k: str(v) for k, v in w.address.items()}
                if isinstance(w.address, dict)
                else str(w.address)
            )
            entries.append((other_id, w.name, address))
    if form.is_new:
        entries.append((wid, " ".join(form.name.split()), new_address))
    return replace_warehouses_block(policy_text, warehouses_block(entries))


async def save_warehouse(
    session: AsyncSession, user: Any, form: WarehouseForm, base_version: int | None
) -> Any:
    """Edit or add one warehouse by publishing a new policy version.

    Raises SettingsError (nothing published) for a bad form, a policy that would not load,
    or a policy published by someone else since the form was opened.
    """
    current = await active_version(session)
    if current is None:
        raise SettingsError({"form": "There is no published policy yet; publish one first."})
    policy = compiled(current.yaml_text, f"v{current.version}").policy
    text = warehouse_policy_text(current.yaml_text, policy, form)
    try:
        compiled(text, "policy")
    except PolicyLoadError as exc:
        raise SettingsError(
            {"form": "The policy would not load: " + "; ".join(e.message for e in exc.errors)}
        ) from None
    verb = "added" if form.is_new else "edited"
    try:
        version = await publish_text(
            session,
            user,
            text,
            base_version,
            note=f"Warehouses edited in settings ({form.id.strip()} {verb})",
            keep_draft=True,
        )
    except EditorError as exc:
        await session.rollback()
        raise SettingsError({"form": str(exc)}) from None
    return version
