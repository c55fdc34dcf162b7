"""Golden tests: the example policies on realistic requests.

Every expected value below was worked out by hand from POLICY.md and the policy
file (the arithmetic is in the comments), not copied from the evaluator.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from portal.policy.evaluator import CompiledPolicy, compile_policy_text
from tests.policy.helpers import decide

FINAL_SALE = "Final-sale items can't be returned."
HYGIENE = (
    "For hygiene reasons, underwear and swimwear can only come back if they arrived damaged "
    "or we sent the wrong item."
)
OPENED_SOFTWARE = (
    "Opened software and games can't be returned. If the disc or code is faulty, "
    'choose "Defective" and we\'ll replace it.'
)
MADE_TO_ORDER = (
    "Personalised and made-to-order items are excluded from the right of withdrawal. "
    "Faulty or damaged ones can of course come back."
)


def load(policies_dir: Path, name: str) -> tuple[CompiledPolicy, str]:
    text = (policies_dir / name).read_text(encoding="utf-8")
    return compile_policy_text(text, name), hashlib.sha256(text.encode()).hexdigest()


def order_line(line_id: str, sku: str, product_type: str, unit_price: int, **extra: Any) -> dict:
    return {
        "id": line_id,
        "sku": sku,
        "title": product_type,
        "product_type": product_type,
        "vendor": extra.pop("vendor", "House brand"),
        "tags": extra.pop("tags", []),
        "quantity": extra.pop("quantity", 1),
        "unit_price": unit_price,
        "discount": extra.pop("discount", 0),
        "returned_quantity": extra.pop("returned_quantity", 0),
    }


def make_request(
    as_of: str, dates: tuple[str, str, str], lines: list[dict], items: list, **order: Any
) -> dict:
    placed, fulfilled, delivered = dates
    return {
        "as_of": as_of,
        "order": {
            "number": "G-1",
            "email": "shopper@example.com",
            "currency": order.pop("currency", "USD"),
            "placed_at": placed,
            "fulfilled_at": fulfilled,
            "delivered_at": delivered,
            "total": sum(li["unit_price"] * li["quantity"] - li["discount"] for li in lines),
            "tags": order.pop("tags", []),
            "customer": {"email": "shopper@example.com", "tags": order.pop("customer_tags", [])},
            "shipping_address": {"country": order.pop("country", "US"), "postal_code": "00000"},
            "lines": lines,
        },
        "items": [{"line_id": i, "quantity": q, "reason": r} for i, q, r in items],
    }


def eligible(
    line_id: str, quantity: int, deadline: str, resolutions: list[str], **fields: Any
) -> dict:
    base = {
        "line_id": line_id,
        "quantity": quantity,
        "eligible": True,
        "deadline": deadline,
        "resolutions": resolutions,
        "keep_item": False,
        "require_review": False,
        "require_photo": False,
        "destination": None,
        "restocking_fee": 0,
        "refund_amount": 0,
        "store_credit_amount": 0,
        "matched_rules": [],
        "messages": [],
    }
    base.update(fields)
    return base


def ineligible(
    line_id: str,
    quantity: int,
    messages: list[str],
    matched: list[str],
    deadline: str | None = None,
) -> dict:
    return {
        "line_id": line_id,
        "quantity": quantity,
        "eligible": False,
        "deadline": deadline,
        "resolutions": [],
        "keep_item": False,
        "require_review": False,
        "require_photo": False,
        "destination": None,
        "restocking_fee": 0,
        "refund_amount": 0,
        "store_credit_amount": 0,
        "matched_rules": matched,
        "messages": messages,
    }


def totals(
    eligible: bool, label_fee: int, refund: int, credit: int, approval: bool, review: bool
) -> dict:
    return {
        "eligible": eligible,
        "label_fee": label_fee,
        "refund_total": refund,
        "store_credit_total": credit,
        "needs_approval": approval,
        "require_review": review,
    }


ALL = ["exchange", "store_credit", "refund"]


# -- default.yaml (apparel, USD, New York) -----------------------------------------


def test_default_mixed_return(policies_dir: Path) -> None:
    compiled, sha = load(policies_dir, "default.yaml")
    req = make_request(
        "2025-10-20T12:00:00Z",
        ("2025-10-01T15:00:00Z", "2025-10-02T15:00:00Z", "2025-10-05T18:00:00Z"),
        [
            order_line("L1", "TEE-BLK-M", "T-Shirt", 2500, quantity=2, tags=["basics"]),
            order_line("L2", "DRS-RED-S", "Dress", 8000, discount=2000),
            order_line("L3", "SWM-BLU-M", "Swimwear", 4000, tags=["Final-Sale", "clearance"]),
        ],
        [("L1", 1, "too_small"), ("L2", 1, "changed_mind"), ("L3", 1, "changed_mind")],
    )
    # Delivered Oct 5 14:00 in New York; 30 days -> Nov 4.
    # L1: paid 2500, no restocking; bonus 10% = 250.
    # L2: paid 8000 - 2000 = 6000; "Sale items" drops refund; bonus 600.
    # L3: final-sale tag (case-insensitive) and swimwear: both denials, in file order.
    # Label 5.95 (a line ships back, no merchant fault) <= refunds 2500 -> 1905.
    # Bonuses 850 < cap 2500. 1905 < 150.00 auto-approve threshold.
    assert decide(compiled, req) == {
        "policy": "Northwind Apparel returns",
        "policy_sha256": sha,
        "lines": [
            eligible("L1", 1, "2025-11-04", ALL, destination="main",
                     refund_amount=2500, store_credit_amount=2750),
            eligible("L2", 1, "2025-11-04", ["exchange", "store_credit"], destination="main",
                     store_credit_amount=6600, matched_rules=["Sale items"]),
            ineligible("L3", 1, [FINAL_SALE, HYGIENE], ["Final sale", "Underwear and swimwear"]),
        ],
        "return": totals(True, 595, 1905, 9350, False, False),
    }  # fmt: skip


def test_default_holiday_extension_bonus_cap_and_review(policies_dir: Path) -> None:
    compiled, sha = load(policies_dir, "default.yaml")
    req = make_request(
        "2026-01-25T15:00:00Z",
        # placed Dec 9 (22:00 in New York), delivered Dec 15
        ("2025-12-10T03:00:00Z", "2025-12-12T15:00:00Z", "2025-12-15T20:00:00Z"),
        [
            order_line("A", "COAT-WOOL-L", "Coat", 30000, tags=["outerwear"]),
            order_line("B", "SWTR-GRN-M", "Sweater", 6000),
        ],
        [("A", 1, "too_large"), ("B", 1, "too_small")],
        tags=["ship-from-reno"],
    )
    # Window would end Jan 14; the holiday extension (placed Dec 9) runs to Jan 31.
    # Bonuses 3000 + 600 = 3600 > cap 2500: shares 2083.33 / 416.67 -> 2083 / 417
    # (largest remainder goes to B). Refunds 36000 - label 595 = 35405 >= 150.00.
    assert decide(compiled, req) == {
        "policy": "Northwind Apparel returns",
        "policy_sha256": sha,
        "lines": [
            eligible("A", 1, "2026-01-31", ALL, destination="west",
                     require_review=True, require_photo=True,
                     refund_amount=30000, store_credit_amount=32083,
                     matched_rules=["West coast fulfilment", "Expensive pieces"]),
            eligible("B", 1, "2026-01-31", ALL, destination="west",
                     refund_amount=6000, store_credit_amount=6417,
                     matched_rules=["West coast fulfilment"]),
        ],
        "return": totals(True, 595, 35405, 38500, True, True),
    }  # fmt: skip


def test_default_cheap_damaged_item_is_kept(policies_dir: Path) -> None:
    compiled, sha = load(policies_dir, "default.yaml")
    req = make_request(
        "2025-06-10T16:00:00Z",
        ("2025-06-01T14:00:00Z", "2025-06-02T14:00:00Z", "2025-06-03T18:00:00Z"),
        [order_line("C", "SOCK-3PK", "Socks", 1200, quantity=3, discount=300, tags=["basics"])],
        [("C", 2, "damaged")],
        customer_tags=["Fraud-Watch"],
    )
    # Per unit paid (3600 - 300) / 3 = 1100 < 15.00 and reason damaged -> keep.
    # Discounted -> exchange or store credit only. Paid for 2: 2400 - 200 = 2200,
    # bonus 220. Merchant fault and nothing ships back: no label fee. The customer's
    # Fraud-Watch tag means review; no refund means no approval needed.
    assert decide(compiled, req) == {
        "policy": "Northwind Apparel returns",
        "policy_sha256": sha,
        "lines": [
            eligible("C", 2, "2025-07-03", ["exchange", "store_credit"], destination="main",
                     keep_item=True, require_photo=True, store_credit_amount=2420,
                     matched_rules=["Sale items", "Keep cheap damaged items"]),
        ],
        "return": totals(True, 0, 0, 2420, False, True),
    }  # fmt: skip


# -- electronics.yaml (USD, Chicago) -------------------------------------------------


def test_electronics_restocking_denial_and_review(policies_dir: Path) -> None:
    compiled, sha = load(policies_dir, "electronics.yaml")
    req = make_request(
        "2025-03-15T12:00:00Z",
        ("2025-03-01T16:00:00Z", "2025-03-02T16:00:00Z", "2025-03-04T22:30:00Z"),
        [
            order_line("E1", "HP-200", "Headphones", 19999),
            order_line("E2", "GAME-ZX", "Video Games", 5999),
            order_line("E3", "DRN-MINI4", "Drones", 89900, discount=5000,
                       tags=["lithium-battery"]),
        ],
        [("E1", 1, "changed_mind_opened"), ("E2", 1, "changed_mind_opened"),
         ("E3", 1, "changed_mind_opened")],
    )  # fmt: skip
    # Delivered Mar 4 (16:30 in Chicago); 15 days -> Mar 19; 11 days have passed.
    # E1: 15% of 19999 = 2999.85 -> 3000; refund = credit = 16999; opened > 10 days.
    # E2: opened game -> denied (the "kept a while" rule matched too).
    # E3: paid 84900; drones 20% -> 16980; refund = credit = 67920; hazmat warehouse;
    #     84900 per unit >= 500.00 -> review and photo.
    # Label 8.00; refunds 84919 - 800 = 84119; >= 100.00 -> approval.
    assert decide(compiled, req) == {
        "policy": "Voltbox Electronics returns",
        "policy_sha256": sha,
        "lines": [
            eligible("E1", 1, "2025-03-19", ["refund", "exchange", "store_credit"],
                     destination="dallas", require_review=True, restocking_fee=3000,
                     refund_amount=16999, store_credit_amount=16999,
                     matched_rules=["Opened and kept a while"]),
            ineligible("E2", 1, [OPENED_SOFTWARE],
                       ["Opened software", "Opened and kept a while"]),
            eligible("E3", 1, "2025-03-19", ["refund", "exchange", "store_credit"],
                     destination="hazmat", require_review=True, require_photo=True,
                     restocking_fee=16980, refund_amount=67920, store_credit_amount=67920,
                     matched_rules=["Drones and cameras", "Lithium batteries", "High value",
                                    "Opened and kept a while"]),
        ],
        "return": totals(True, 800, 84119, 84919, True, True),
    }  # fmt: skip


def test_electronics_member_warranty_and_late_accessory(policies_dir: Path) -> None:
    compiled, sha = load(policies_dir, "electronics.yaml")
    req = make_request(
        "2025-07-15T17:00:00Z",
        ("2025-05-01T15:00:00Z", "2025-05-02T15:00:00Z", "2025-05-03T15:00:00Z"),
        [
            order_line("C1", "USBC-1M", "Cables", 1499, quantity=2),
            order_line("C2", "CHG-65W", "Accessories", 3999),
        ],
        [("C1", 1, "defective"), ("C2", 1, "changed_mind_sealed")],
        customer_tags=["Plus"],
    )
    # C1: member 30 days, then the warranty rule (later) makes it 90: May 3 + 90 = Aug 1;
    #     cheap defective cable is kept; merchant fault -> no fee; photo from the reason.
    # C2: sealed + member -> 30 days: June 2, long past on July 15.
    # Nothing ships back -> no label; 1499 < 100.00 -> no approval.
    assert decide(compiled, req) == {
        "policy": "Voltbox Electronics returns",
        "policy_sha256": sha,
        "lines": [
            eligible("C1", 1, "2025-08-01", ["refund", "exchange", "store_credit"],
                     destination="repair", keep_item=True, require_photo=True,
                     refund_amount=1499, store_credit_amount=1499,
                     matched_rules=["Plus members", "Defect warranty",
                                    "Cheap broken accessories"]),
            ineligible("C2", 1, ["The return window for this item closed on 2025-06-02."],
                       ["Sealed returns", "Plus members"], deadline="2025-06-02"),
        ],
        "return": totals(True, 0, 1499, 1499, False, False),
    }  # fmt: skip


def test_electronics_international_and_currency(policies_dir: Path) -> None:
    compiled, _ = load(policies_dir, "electronics.yaml")
    dates = ("2025-03-01T16:00:00Z", "2025-03-02T16:00:00Z", "2025-03-04T22:30:00Z")
    lines = [order_line("E1", "HP-200", "Headphones", 10000)]
    abroad = make_request("2025-03-10T12:00:00Z", dates, lines, [("E1", 1, "incompatible")],
                          country="CA")  # fmt: skip
    only = decide(compiled, abroad)["lines"][0]
    # Abroad: store credit or exchange only; 15% fee still comes off the credit.
    assert only["resolutions"] == ["store_credit", "exchange"]
    assert only["refund_amount"] == 0
    assert only["store_credit_amount"] == 8500
    in_cad = make_request("2025-03-10T12:00:00Z", dates, lines, [("E1", 1, "incompatible")],
                          currency="CAD")  # fmt: skip
    decision = decide(compiled, in_cad)
    assert decision["lines"][0]["eligible"] is False
    assert "CAD" in decision["lines"][0]["messages"][0]


# -- eu-shop.yaml (EUR, Berlin) -------------------------------------------------------


def test_eu_withdrawal_ends_at_berlin_midnight_after_dst(policies_dir: Path) -> None:
    compiled, sha = load(policies_dir, "eu-shop.yaml")
    req = make_request(
        "2025-11-07T22:59:59Z",
        ("2025-10-20T09:00:00Z", "2025-10-21T09:00:00Z", "2025-10-24T21:30:00Z"),
        [
            order_line("V1", "VASE-TERRA", "Vase", 3990, tags=["decor"]),
            order_line("V2", "CUSH-LIN", "Cushion", 1250, quantity=2, discount=250,
                       tags=["textiles"]),
        ],
        [("V1", 1, "withdrawal"), ("V2", 2, "transport_damage")],
        currency="EUR", country="FR",
    )  # fmt: skip
    # Delivered Oct 24 23:30 Berlin (CEST); 14 days -> Nov 7. After the switch to CET,
    # 22:59:59 UTC is 23:59:59 on Nov 7 in Berlin: still inside.
    # V1: paid 3990; bonus 5% = 199.5 -> 200.
    # V2: paid 2500 - 250 = 2250; 1125 per unit < 25.00 -> kept; bonus 112.5 -> 113.
    # A merchant-fault line -> no label fee. 6240 < 250.00 -> no approval.
    expected = {
        "policy": "Lindenhof Living EU returns",
        "policy_sha256": sha,
        "lines": [
            eligible("V1", 1, "2025-11-07", ["refund", "exchange", "store_credit"],
                     destination="berlin", refund_amount=3990, store_credit_amount=4190),
            eligible("V2", 2, "2025-11-07", ["refund", "exchange", "store_credit"],
                     destination="berlin", keep_item=True, require_photo=True,
                     refund_amount=2250, store_credit_amount=2363,
                     matched_rules=["Small damage, keep it"]),
        ],
        "return": totals(True, 0, 6240, 6553, False, False),
    }  # fmt: skip
    assert decide(compiled, req) == expected
    req["as_of"] = "2025-11-07T23:00:00Z"  # midnight in Berlin
    late = decide(compiled, req)
    assert [li["eligible"] for li in late["lines"]] == [False, False]
    assert late["return"]["eligible"] is False


def test_eu_germany_30_days_label_fee_capped_and_made_to_order(policies_dir: Path) -> None:
    compiled, sha = load(policies_dir, "eu-shop.yaml")
    req = make_request(
        "2025-03-25T10:00:00Z",
        ("2025-03-01T10:00:00Z", "2025-03-02T10:00:00Z", "2025-03-03T10:00:00Z"),
        [
            order_line("T1", "COAST-4", "Coaster", 350),
            order_line("T2", "MUG-NAME", "Mug", 1900, tags=["personalised"]),
        ],
        [("T1", 1, "withdrawal"), ("T2", 1, "withdrawal")],
        currency="EUR", country="DE",
    )  # fmt: skip
    # Germany: 30 days -> Apr 2 (22 days in). T1 paid 350, bonus 17.5 -> 18.
    # T2: personalised, withdrawal -> denied. Label 4.90 capped at the 3.50 refund.
    assert decide(compiled, req) == {
        "policy": "Lindenhof Living EU returns",
        "policy_sha256": sha,
        "lines": [
            eligible("T1", 1, "2025-04-02", ["refund", "exchange", "store_credit"],
                     destination="berlin", refund_amount=350, store_credit_amount=368,
                     matched_rules=["30 days in Germany and Austria"]),
            ineligible("T2", 1, [MADE_TO_ORDER],
                       ["30 days in Germany and Austria", "Made to order"]),
        ],
        "return": totals(True, 350, 0, 368, False, False),
    }  # fmt: skip


@pytest.mark.parametrize(
    ("country", "deadline", "destination", "matched"),
    [
        ("CH", "2025-03-17", "basel", ["Outside the EU", "Swiss returns"]),
        ("AT", "2025-04-02", "berlin", ["30 days in Germany and Austria"]),
        ("IT", "2025-03-17", "berlin", []),
    ],
)
def test_eu_window_and_destination_by_country(
    policies_dir: Path, country: str, deadline: str, destination: str, matched: list[str]
) -> None:
    compiled, _ = load(policies_dir, "eu-shop.yaml")
    req = make_request(
        "2025-03-10T10:00:00Z",
        ("2025-03-01T10:00:00Z", "2025-03-02T10:00:00Z", "2025-03-03T10:00:00Z"),
        [order_line("T1", "LAMP-1", "Lamp", 15000)],
        [("T1", 1, "withdrawal")],
        currency="EUR", country=country,
    )  # fmt: skip
    decision = decide(compiled, req)
    only = decision["lines"][0]
    assert (only["deadline"], only["destination"], only["matched_rules"]) == (
        deadline,
        destination,
        [*matched, "Free returns over 100 EUR"],
    )
    # Orders from 100 EUR return free: no label fee on the 150 EUR refund.
    assert decision["return"]["label_fee"] == 0
    assert decision["return"]["refund_total"] == 15000
