"""Every `then` effect, and how rules combine (precedence, deny)."""

from __future__ import annotations

from tests.policy.helpers import decide, first_line, line, request, rules

FEES = """
fees: {restocking_percent: 10, label_fee: 5.95}
store_credit: {bonus_percent: 10}
"""


def test_deny_makes_the_line_ineligible_with_its_message() -> None:
    compiled = rules(
        """
        - name: Final sale
          when: {tags_any: [final-sale]}
          then: {deny: "Final-sale items can't be returned."}
        """,
        FEES,
    )
    decision = decide(compiled, request([line(tags=["final-sale"])]))
    only = decision["lines"][0]
    assert only == {
        "line_id": "L1",
        "quantity": 1,
        "eligible": False,
        "deadline": None,
        "resolutions": [],
        "keep_item": False,
        "require_review": False,
        "require_photo": False,
        "destination": None,
        "restocking_fee": 0,
        "refund_amount": 0,
        "store_credit_amount": 0,
        "matched_rules": ["Final sale"],
        "messages": ["Final-sale items can't be returned."],
    }
    assert decision["return"] == {
        "eligible": False,
        "label_fee": 0,
        "refund_total": 0,
        "store_credit_total": 0,
        "needs_approval": False,
        "require_review": False,
    }


def test_deny_wins_over_later_rules_and_every_deny_message_is_reported() -> None:
    compiled = rules(
        """
        - name: No swimwear
          when: {product_type_in: [Swimwear]}
          then: {deny: Swimwear can't come back.}
        - name: Clearance
          when: {tags_any: [clearance]}
          then: {deny: Clearance is final.}
        - name: Same message again
          when: {tags_any: [clearance]}
          then: {deny: Clearance is final.}
        - name: Generous
          when: {}
          then: {window_days: 365, resolutions: [refund], require_review: true}
        """
    )
    only = first_line(compiled, request([line(product_type="Swimwear", tags=["Clearance"])]))
    assert only["eligible"] is False
    assert only["messages"] == ["Swimwear can't come back.", "Clearance is final."]
    assert only["matched_rules"] == ["No swimwear", "Clearance", "Same message again", "Generous"]
    assert only["resolutions"] == []
    assert only["require_review"] is False


def test_deny_that_does_not_match_changes_nothing() -> None:
    compiled = rules("- {name: Gift cards, when: {sku_matches: [GC-*]}, then: {deny: No.}}\n")
    only = first_line(compiled, request())
    assert only["eligible"] is True
    assert only["matched_rules"] == []


def test_later_rule_overrides_earlier_for_the_same_effect() -> None:
    compiled = rules(
        """
        - {name: Short, when: {}, then: {window_days: 3, destination: east, keep_item: true}}
        - {name: Long, when: {tags_any: [a]}, then: {window_days: 40, keep_item: false}}
        """
    )
    # Delivered 2025-06-04; as_of 2025-06-10 is past 3 days but within 40.
    tagged = first_line(compiled, request([line(tags=["a"])]))
    assert tagged["eligible"] is True
    assert tagged["deadline"] == "2025-07-14"
    assert tagged["keep_item"] is False
    assert tagged["destination"] == "east"  # only the first rule set it
    untagged = first_line(compiled, request())
    assert untagged["eligible"] is False
    assert untagged["deadline"] == "2025-06-07"
    assert untagged["messages"] == ["The return window for this item closed on 2025-06-07."]


def test_window_days_rule_applies_before_the_window_check() -> None:
    compiled = rules("- {name: VIP, when: {customer_tags_any: [vip]}, then: {window_days: 60}}\n")
    late = request(as_of="2025-07-20T12:00:00Z")  # 46 days after delivery
    assert first_line(compiled, late)["eligible"] is False
    late["order"]["customer"]["tags"] = ["vip"]
    vip = first_line(compiled, late)
    assert vip["eligible"] is True
    assert vip["deadline"] == "2025-08-03"


def test_resolutions_effect_sets_the_offer_and_its_order() -> None:
    compiled = rules(
        "- {name: Credit first, when: {}, then: {resolutions: [store_credit, exchange]}}\n",
        FEES,
    )
    only = first_line(compiled, request())
    assert only["resolutions"] == ["store_credit", "exchange"]
    assert only["refund_amount"] == 0  # refund is not offered
    assert only["store_credit_amount"] == 2500 - 250 + 250


def test_default_resolutions_come_from_the_top_level() -> None:
    compiled = rules("[]\n", "resolutions: [refund, exchange]\n")
    assert first_line(compiled, request())["resolutions"] == ["refund", "exchange"]
    assert first_line(compiled, request())["store_credit_amount"] == 0


def test_keep_item() -> None:
    compiled = rules("- {name: Keep, when: {tags_any: [cheap]}, then: {keep_item: true}}\n", FEES)
    decision = decide(compiled, request([line(tags=["cheap"])]))
    assert decision["lines"][0]["keep_item"] is True
    assert decision["return"]["label_fee"] == 0  # nothing ships back, no label


def test_require_review_marks_the_line_and_the_return() -> None:
    compiled = rules("- {name: Check, when: {tags_any: [x]}, then: {require_review: true}}\n")
    decision = decide(compiled, request([line("L1", tags=["x"]), line("L2")]))
    assert [li["require_review"] for li in decision["lines"]] == [True, False]
    assert decision["return"]["require_review"] is True
    assert decide(compiled, request())["return"]["require_review"] is False


def test_require_photo_from_a_rule_or_from_the_reason() -> None:
    compiled = rules("- {name: Photo, when: {tags_any: [x]}, then: {require_photo: true}}\n")
    assert first_line(compiled, request([line(tags=["x"])]))["require_photo"] is True
    assert first_line(compiled, request())["require_photo"] is False
    damaged = request(items=[{"line_id": "L1", "quantity": 1, "reason": "damaged"}])
    assert first_line(compiled, damaged)["require_photo"] is True  # reason requires_photo
    # A rule can't switch off a photo the reason itself requires.
    no_photo = rules("- {name: No photo, when: {}, then: {require_photo: false}}\n")
    assert first_line(no_photo, damaged)["require_photo"] is True


def test_restocking_fee_percent_overrides_the_top_level_percent() -> None:
    compiled = rules(
        """
        - {name: Drones, when: {product_type_in: [Drone]}, then: {restocking_fee_percent: 20}}
        - {name: Sealed, when: {tags_any: [sealed]}, then: {restocking_fee_percent: 0}}
        """,
        FEES,
    )
    shirt = first_line(compiled, request([line(unit_price=10000)]))
    assert shirt["restocking_fee"] == 1000
    assert shirt["refund_amount"] == 9000
    drone = first_line(compiled, request([line(unit_price=10000, product_type="Drone")]))
    assert drone["restocking_fee"] == 2000
    assert drone["refund_amount"] == 8000
    sealed = request([line(unit_price=10000, product_type="Drone", tags=["sealed"])])
    assert first_line(compiled, sealed)["restocking_fee"] == 0


def test_fractional_restocking_percent_rounds_half_up() -> None:
    compiled = rules("- {name: Odd, when: {}, then: {restocking_fee_percent: 12.5}}\n", FEES)
    # 12.5% of 1012 = 126.5 -> 127
    assert first_line(compiled, request([line(unit_price=1012)]))["restocking_fee"] == 127
    # 12.5% of 1011 = 126.375 -> 126
    assert first_line(compiled, request([line(unit_price=1011)]))["restocking_fee"] == 126


def test_waive_fees_removes_restocking_and_label_fee() -> None:
    compiled = rules(
        "- {name: Members, when: {customer_tags_any: [member]}, then: {waive_fees: true}}\n", FEES
    )
    plain = decide(compiled, request([line(unit_price=10000)]))
    assert plain["lines"][0]["restocking_fee"] == 1000
    assert plain["return"]["label_fee"] == 595
    member = decide(compiled, request([line(unit_price=10000)], customer={"tags": ["Member"]}))
    assert member["lines"][0]["restocking_fee"] == 0
    assert member["lines"][0]["refund_amount"] == 10000
    assert member["return"]["label_fee"] == 0
    assert member["return"]["refund_total"] == 10000


def test_store_credit_bonus_percent_overrides_the_bonus() -> None:
    compiled = rules(
        "- {name: Big bonus, when: {tags_any: [promo]}, then: {store_credit_bonus_percent: 25}}\n",
        FEES,
    )
    # paid 2000, fee 10% = 200 deducted from store credit, bonus 10% / 25% of paid
    assert first_line(compiled, request([line(unit_price=2000)]))["store_credit_amount"] == 2000
    promo = request([line(unit_price=2000, tags=["promo"])])
    assert first_line(compiled, promo)["store_credit_amount"] == 2000 - 200 + 500


def test_destination_defaults_to_the_first_warehouse() -> None:
    compiled = rules("- {name: East, when: {country_in: [CA]}, then: {destination: east}}\n")
    assert first_line(compiled, request())["destination"] == "main"
    canada = request(shipping_address={"country": "CA"})
    assert first_line(compiled, canada)["destination"] == "east"


def test_matched_rules_lists_every_matching_rule_in_file_order() -> None:
    compiled = rules(
        """
        - {name: Third?, when: {tags_any: [b]}, then: {}}
        - {name: Never, when: {tags_any: [z]}, then: {keep_item: true}}
        - {name: Always, then: {}}
        - {name: A or B, when: {any: [{tags_any: [a]}, {tags_any: [b]}]}, then: {}}
        """
    )
    only = first_line(compiled, request([line(tags=["a", "b"])]))
    assert only["matched_rules"] == ["Third?", "Always", "A or B"]
