"""Loading policies: every error class, with its line and column, all at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.policy.loader import (
    PolicyError,
    PolicyLoadError,
    load_policy,
    load_policy_file,
    validate_policy_text,
)

# Eight valid lines; whatever a test appends starts on line 9.
BASE = """\
name: Shop
currency: USD
reasons:
  - {code: too_small, label: Too small}
  - {code: damaged, label: Damaged, fault: merchant}
warehouses:
  main: {name: Main, address: 1 Main St}
  east: {name: East, address: 2 East St}
"""


def errors_of(text: str) -> list[PolicyError]:
    with pytest.raises(PolicyLoadError) as caught:
        load_policy(text, "shop.yaml")
    errors = caught.value.errors
    assert errors, "a load error must carry at least one error"
    assert all(e.file == "shop.yaml" for e in errors)
    return errors


def only_error(text: str) -> PolicyError:
    errors = errors_of(text)
    assert len(errors) == 1, [str(e) for e in errors]
    return errors[0]


def where(error: PolicyError) -> tuple[int, int]:
    return error.line, error.column


def test_base_is_valid() -> None:
    policy = load_policy(BASE)
    assert policy.name == "Shop"
    assert policy.window.days == 30
    assert policy.window.from_ == "delivered"
    assert policy.timezone == "UTC"
    assert policy.resolutions == ("exchange", "store_credit", "refund")
    assert policy.default_warehouse == "main"
    assert policy.reasons[0].fault == "customer"
    assert policy.timelines.ship_within_days == 14
    assert policy.timelines.remind_after_days == 7
    assert policy.timelines.refund_within_days_of_receipt == 5


def test_unknown_top_level_key_suggests_the_right_one() -> None:
    error = only_error(BASE + "windw: {days: 10}\n")
    assert where(error) == (9, 1)
    assert error.message == "unknown key `windw` — did you mean `window`?"
    assert str(error) == "shop.yaml:9:1: unknown key `windw` — did you mean `window`?"


def test_unknown_nested_key_suggests_the_right_one() -> None:
    error = only_error(BASE + "window: {dayz: 10}\n")
    assert where(error) == (9, 10)
    assert "unknown key `dayz` — did you mean `days`?" in error.message


def test_unknown_key_without_a_close_match_lists_the_allowed_keys() -> None:
    error = only_error(BASE + "window: {zzz: 1}\n")
    assert error.message == "unknown key `zzz`; expected one of: days, from"


@pytest.mark.parametrize(
    ("snippet", "position", "text"),
    [
        (
            "window:\n  days: thirty\n",
            (10, 9),
            "`window.days` must be a whole number, not `thirty`",
        ),
        ("window:\n  days: 7.5\n", (10, 9), "`window.days` must be a whole number, not `7.5`"),
        ("window: {days: 10, from: shipped}\n", (9, 26), "must be one of delivered, fulfilled"),
        ("store_credit: {issue: later}\n", (9, 23), "must be one of instant, on_receipt"),
        ("name: [a, b]\n", (9, 7), "`name` must be text, not a list"),
        ("approval:\n  always_review_customer_tags: vip\n", (10, 32), "must be a list"),
        ("window: 30\n", (9, 9), "`window` must be a mapping of keys to values, not `30`"),
        ("fees: {restocking_percent: 150}\n", (9, 28), "percentage between 0 and 100"),
        ("fees: {restocking_percent: lots}\n", (9, 28), "must be a percentage"),
        ("fees: {label_fee: -1}\n", (9, 19), "`fees.label_fee` can't be negative"),
        ("fees: {label_fee: free}\n", (9, 19), "must be an amount of money"),
        ("timelines: {ship_within_days: -2}\n", (9, 31), "must be at least 0"),
    ],
)
def test_wrong_types_are_explained(snippet: str, position: tuple[int, int], text: str) -> None:
    # Line 9 onwards; some snippets repeat a base key, so they replace `name`.
    source = BASE.replace("name: Shop\n", "") if snippet.startswith("name:") else BASE
    error = only_error(source + snippet)
    expected_line = position[0] - (1 if snippet.startswith("name:") else 0)
    assert where(error) == (expected_line, position[1])
    assert text in error.message


def test_rule_type_errors_name_the_rule() -> None:
    errors = errors_of(
        BASE
        + "rules:\n"
        + "  - name: Sale\n"
        + "    when: {tags_any: sale, discounted: yes}\n"
        + "    then: {keep_item: 1}\n"
    )
    assert [(e.line, e.column, e.message) for e in errors] == [
        (11, 22, "rule `Sale`: `when.tags_any` must be a list, such as `[a, b]`, not `sale`"),
        (11, 40, "rule `Sale`: `when.discounted` must be true or false, not `yes`"),
        (12, 23, "rule `Sale`: `then.keep_item` must be true or false, not `1`"),
    ]


def test_unknown_warehouse_in_destination() -> None:
    error = only_error(BASE + "rules:\n  - name: West\n    then: {destination: west}\n")
    assert where(error) == (11, 25)
    assert error.message == (
        "rule `West`: unknown warehouse `west` in `destination` — did you mean `east`?"
    )


def test_unknown_warehouse_without_close_match_lists_known_ones() -> None:
    error = only_error(BASE + "rules:\n  - name: X\n    then: {destination: zzz}\n")
    assert error.message.endswith("; known warehouses: main, east")


def test_rule_name_used_twice() -> None:
    error = only_error(
        BASE
        + "rules:\n"
        + "  - {name: Sale, then: {}}\n"
        + "  - {name: Other, then: {}}\n"
        + "  - {name: Sale, then: {}}\n"
    )
    assert where(error) == (12, 12)
    assert "`Sale` is already used by rule #1" in error.message


def test_unknown_reason_code_in_reason_in_even_when_nested() -> None:
    errors = errors_of(
        BASE
        + "rules:\n"
        + "  - name: R\n"
        + "    when:\n"
        + "      reason_in: [too_small, damagd]\n"
        + "      any: [{reason_in: [nope]}]\n"
        + "      not: {reason_in: [too_smal]}\n"
        + "    then: {}\n"
    )
    assert [(e.line, e.column) for e in errors] == [(12, 30), (13, 26), (14, 25)]
    assert errors[0].message == (
        "rule `R`: unknown reason code `damagd` in `reason_in` — did you mean `damaged`?"
    )
    assert errors[1].message.endswith("known codes: too_small, damaged")
    assert "did you mean `too_small`?" in errors[2].message


@pytest.mark.parametrize(
    ("currency", "amount", "ok", "minor"),
    [
        ("USD", "5.95", True, 595),
        ("USD", "5.950", True, 595),  # same value, exactly representable
        ("USD", "5", True, 500),
        ("USD", '"5.95"', True, 595),
        ("USD", "5.955", False, None),
        ("JPY", "500", True, 500),
        ("JPY", "500.5", False, None),
        ("KWD", "1.234", True, 1234),
        ("KWD", "1.2345", False, None),
        ("BHD", "0.005", True, 5),
    ],
)
def test_money_is_exact_and_limited_to_the_currency_decimals(
    currency: str, amount: str, ok: bool, minor: int | None
) -> None:
    text = (
        BASE.replace("currency: USD", f"currency: {currency}") + f"fees: {{label_fee: {amount}}}\n"
    )
    if ok:
        assert load_policy(text).fees.label_fee == minor
    else:
        error = only_error(text)
        assert where(error) == (9, 19)
        assert f"has more decimals than {currency} allows" in error.message


def test_money_decimals_are_checked_in_rule_conditions_too() -> None:
    error = only_error(
        BASE + "rules:\n  - name: Cheap\n    when: {unit_price_below: 9.999}\n    then: {}\n"
    )
    assert where(error) == (11, 30)
    assert error.message.startswith("rule `Cheap`: `when.unit_price_below`: `9.999` has more")


@pytest.mark.parametrize(
    ("snippet", "position"),
    [
        ("resolutions: [exchange, refnd]\n", (9, 25)),
        ("fees: {waive_for: [refnd]}\n", (9, 20)),
        ("rules:\n  - {name: R, then: {resolutions: [refnd]}}\n", (10, 36)),
    ],
)
def test_unknown_resolution(snippet: str, position: tuple[int, int]) -> None:
    error = only_error(BASE + snippet)
    assert where(error) == position
    assert "unknown resolution `refnd`" in error.message
    assert "did you mean `refund`?" in error.message


def test_resolution_listed_twice() -> None:
    error = only_error(BASE + "resolutions: [refund, refund]\n")
    assert where(error) == (9, 14)
    assert "more than once" in error.message


def test_unknown_timezone() -> None:
    error = only_error(BASE + "timezone: Europe/Berln\n")
    assert where(error) == (9, 11)
    assert "unknown time zone `Europe/Berln`" in error.message


def test_unknown_currency() -> None:
    error = only_error(BASE.replace("currency: USD", "currency: USX"))
    assert where(error) == (2, 11)
    assert "unknown currency `USX`" in error.message


def test_unknown_condition_and_effect_keys() -> None:
    errors = errors_of(
        BASE
        + "rules:\n"
        + "  - name: Final\n"
        + "    when: {tag_any: [x]}\n"
        + "    then: {dney: No.}\n"
    )
    assert [(e.line, e.column, e.message) for e in errors] == [
        (11, 12, "rule `Final`: unknown condition `tag_any` — did you mean `tags_any`?"),
        (12, 12, "rule `Final`: unknown effect `dney` — did you mean `deny`?"),
    ]


@pytest.mark.parametrize(
    ("value", "column"),
    [("2025-02-30", 44), ("2025-13-01", 44), ("next week", 44), ("20250101", 44)],
)
def test_bad_dates(value: str, column: int) -> None:
    error = only_error(
        BASE
        + "extensions:\n"
        + f"  - {{ordered_from: 2025-01-01, ordered_to: {value}, until: 2025-03-01}}\n"
    )
    assert where(error) == (10, column)
    assert f"`{value}` is not a valid date" in error.message
    assert error.message.startswith("extension #1: `ordered_to`")


def test_extension_span_must_not_be_empty() -> None:
    error = only_error(
        BASE
        + "extensions:\n"
        + "  - ordered_from: 2025-12-31\n"
        + "    ordered_to: 2025-11-01\n"
        + "    until: 2026-01-31\n"
    )
    assert where(error) == (10, 5)
    assert "`ordered_from` is after `ordered_to`" in error.message


def test_invalid_yaml_reports_its_position() -> None:
    error = only_error(BASE + "rules: [\n  - {name: x\n")
    assert error.message.startswith("this is not valid YAML")
    assert error.line >= 9


def test_key_written_twice() -> None:
    error = only_error(BASE + "name: Again\n")
    assert where(error) == (9, 1)
    assert error.message == "`name` appears twice here; keep only one"


def test_missing_required_keys() -> None:
    errors = errors_of("timezone: UTC\n")
    assert {e.message for e in errors} == {
        "`name` is required",
        "`currency` is required",
        "`reasons` is required",
        "`warehouses` is required",
    }
    assert {where(e) for e in errors} == {(1, 1)}


def test_empty_lists_and_maps_are_rejected() -> None:
    errors = errors_of(
        "name: Shop\ncurrency: USD\nreasons: []\nwarehouses: {}\n"
        "rules:\n  - {name: R, when: {tags_any: []}, then: {}}\n"
    )
    assert [(e.line, e.message) for e in errors] == [
        (3, "`reasons` needs at least one entry"),
        (4, "`warehouses` needs at least one entry"),
        (6, "rule `R`: `when.tags_any` needs at least one entry"),
    ]


def test_rule_needs_a_name_and_a_then() -> None:
    errors = errors_of(BASE + "rules:\n  - when: {}\n")
    assert [(e.line, e.column, e.message) for e in errors] == [
        (10, 5, "rule #1: `name` is required"),
        (10, 5, "rule #1: `then` is required"),
    ]


def test_not_a_mapping_and_empty_file() -> None:
    assert only_error("- a\n- b\n").message.startswith("a policy must be a mapping")
    assert only_error("").message == "the policy file is empty"
    assert only_error("# just a comment\n").message == "the policy file is empty"


def test_every_error_is_reported_at_once_in_file_order() -> None:
    text = (
        "name: Shop\n"
        "currency: USD\n"
        "timezone: Mars/Olympus\n"
        "windw: {days: 10}\n"
        "reasons:\n"
        "  - {code: small, label: Small, fault: shopper}\n"
        "warehouses:\n"
        "  main: {name: Main, address: x}\n"
        "fees: {label_fee: 1.999}\n"
        "rules:\n"
        "  - {name: A, when: {reason_in: [big]}, then: {destination: west}}\n"
        "  - {name: A, then: {keep_itme: true}}\n"
    )
    errors = errors_of(text)
    assert [(e.line, e.column) for e in errors] == [
        (3, 11),
        (4, 1),
        (6, 40),
        (9, 19),
        (11, 34),
        (11, 61),
        (12, 12),
        (12, 22),
    ]
    assert len({e.message for e in errors}) == 8


def test_validate_policy_text_returns_errors_without_raising() -> None:
    policy, errors = validate_policy_text(BASE + "windw: 1\n", "editor")
    assert policy is None
    assert [str(e) for e in errors] == ["editor:9:1: unknown key `windw` — did you mean `window`?"]
    policy, errors = validate_policy_text(BASE)
    assert errors == []
    assert policy is not None


def test_load_policy_file_reports_unreadable_files(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(PolicyLoadError) as caught:
        load_policy_file(missing)
    assert caught.value.errors[0].file == str(missing)
    assert "can't read the file" in caught.value.errors[0].message


def test_load_policy_file_returns_the_text(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(BASE, encoding="utf-8")
    policy, text = load_policy_file(path)
    assert text == BASE
    assert policy.currency == "USD"


def test_yaml_anchors_and_merge_keys_work() -> None:
    policy = load_policy(
        BASE
        + "rules:\n"
        + "  - name: A\n"
        + "    when: &sale {tags_any: [sale]}\n"
        + "    then: {keep_item: true}\n"
        + "  - name: B\n"
        + "    when: {<<: *sale, reason_in: [damaged]}\n"
        + "    then: {}\n"
    )
    assert policy.rules[1].when is not None
    assert policy.rules[1].when.tags_any == ("sale",)
    assert policy.rules[1].when.reason_in == ("damaged",)


@pytest.mark.parametrize("name", ["default.yaml", "electronics.yaml", "eu-shop.yaml"])
def test_example_policies_load(policies_dir: Path, name: str) -> None:
    policy, _ = load_policy_file(policies_dir / name)
    assert policy.rules, "example policies demonstrate rules"


def test_blank_optional_lists_mean_none() -> None:
    policy = load_policy(BASE + "rules:\n  # - {name: Later, then: {}}\nextensions:\n")
    assert policy.rules == ()
    assert policy.extensions == ()
