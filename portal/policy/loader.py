"""Load a policy from YAML text, reporting every problem at once with its position.

Merchants edit policies by hand (in a shell or in the browser editor), so a
single run must tell them *everything* that is wrong, each with the line and
column and a sentence they understand. We therefore:

1. compose the YAML into nodes ourselves (ruamel.yaml keeps each node's mark)
   and build plain data plus a map from path to position; floats become
   ``Decimal`` from their exact source text so money is never a binary float;
2. validate the data with the pydantic models and translate each pydantic
   error into a merchant sentence placed at the offending key or value;
3. run the cross-reference checks pydantic cannot do (warehouse ids, reason
   codes, duplicate rule names) on the same data, so they are reported even
   when other parts of the file are broken.
"""

from __future__ import annotations

import difflib
import hashlib
import types
import typing
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from portal.policy.schema import RESOLUTIONS, Conditions, Effects, Policy

__all__ = [
    "PolicyError",
    "PolicyLoadError",
    "load_policy",
    "load_policy_file",
    "policy_sha256",
    "validate_policy_text",
]

_TAG = "tag:yaml.org,2002:"
_MAX_DEPTH = 64

Path_ = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class PolicyError:
    """One problem in a policy file, 1-based line and column."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class PolicyLoadError(Exception):
    """The policy did not parse or validate; `errors` lists every problem."""

    def __init__(self, errors: list[PolicyError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


def policy_sha256(text: str) -> str:
    """Fingerprint of the exact policy text, reported with every decision."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------
# YAML nodes -> plain data + positions


class _Builder:
    """Turns composed YAML nodes into plain Python data, remembering positions."""

    def __init__(self) -> None:
        self.values: dict[Path_, tuple[int, int]] = {}
        self.keys: dict[Path_, tuple[int, int]] = {}
        self.problems: list[tuple[tuple[int, int], str]] = []

    @staticmethod
    def _mark(node: Node) -> tuple[int, int]:
        return node.start_mark.line + 1, node.start_mark.column + 1

    def build(self, node: Node, path: Path_ = (), depth: int = 0) -> Any:
        self.values.setdefault(path, self._mark(node))
        if depth > _MAX_DEPTH:
            self.problems.append((self._mark(node), "the file nests too deeply"))
            return None
        if isinstance(node, MappingNode):
            result: dict[str, Any] = {}
            self._fill_mapping(node, path, depth, result)
            return result
        if isinstance(node, SequenceNode):
            return [
                self.build(item, (*path, index), depth + 1) for index, item in enumerate(node.value)
            ]
        return self._scalar(node)

    def _fill_mapping(self, node: MappingNode, path: Path_, depth: int, out: dict) -> None:
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if str(key_node.tag) == _TAG + "merge":
                merged = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                for source in merged:
                    if isinstance(source, MappingNode) and depth < _MAX_DEPTH:
                        extra: dict[str, Any] = {}
                        self._fill_mapping(source, path, depth + 1, extra)
                        for key, value in extra.items():
                            out.setdefault(key, value)
                continue
            if not isinstance(key_node, ScalarNode):
                self.problems.append((self._mark(key_node), "keys must be plain words"))
                continue
            key = str(key_node.value)
            if key in seen:
                self.problems.append(
                    (self._mark(key_node), f"`{key}` appears twice here; keep only one")
                )
                continue
            seen.add(key)
            self.keys[(*path, key)] = self._mark(key_node)
            out[key] = self.build(value_node, (*path, key), depth + 1)

    @staticmethod
    def _scalar(node: Node) -> Any:
        text = str(node.value)
        tag = str(node.tag)
        if tag == _TAG + "null":
            return None
        if tag == _TAG + "bool":
            return text.lower() == "true"
        if tag == _TAG + "int":
            cleaned = text.replace("_", "")
            try:
                return int(cleaned)
            except ValueError:
                try:
                    return int(cleaned, 0)
                except ValueError:
                    return text
        if tag == _TAG + "float":
            # Exact decimal from the source text: `9.95` is 9.95, not 9.9499999...
            try:
                return Decimal(text.replace("_", ""))
            except InvalidOperation:
                return text
        # Timestamps stay text: the date fields parse them and can say what is wrong.
        return text


# ---------------------------------------------------------------------------
# pydantic errors -> sentences


def _unwrap(tp: Any) -> Any:
    """Strip Annotated/Optional layers to reach a model, tuple or dict type."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = args[0]
        else:
            return tp


def _model_at(loc: Path_) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at `loc` (for key suggestions)."""
    tp: Any = Policy
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            fields = {(f.alias or n): f for n, f in tp.model_fields.items()}
            if part not in fields:
                return None
            tp = fields[part].annotation
        elif typing.get_origin(tp) in (tuple, list):
            tp = typing.get_args(tp)[0]
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return None
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _keys_of(model: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]


def _suggest(word: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if close:
        return f" — did you mean `{close[0]}`?"
    return ""


def _show(value: Any) -> str:
    """A value as the merchant wrote it (roughly), for messages."""
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if value is None:
        return "nothing"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"`{value}`"


def _rule_label(data: Any, index: int) -> str:
    rules = data.get("rules") if isinstance(data, dict) else None
    if isinstance(rules, list) and index < len(rules):
        rule = rules[index]
        if isinstance(rule, dict) and isinstance(rule.get("name"), str) and rule["name"]:
            return f"rule `{rule['name']}`"
    return f"rule #{index + 1}"


def _where(loc: Path_, data: Any) -> tuple[str, Path_]:
    """Split a path into a merchant-friendly owner ("rule `Final sale`") and the rest."""
    if len(loc) >= 2 and isinstance(loc[1], int):
        section = loc[0]
        if section == "rules":
            return _rule_label(data, loc[1]) + ": ", loc[2:]
        if section in ("reasons", "extensions"):
            return f"{section[:-1]} #{loc[1] + 1}: ", loc[2:]
    if len(loc) >= 2 and loc[0] == "warehouses" and isinstance(loc[1], str):
        return f"warehouse `{loc[1]}`: ", loc[2:]
    return "", loc


def _field(rest: Path_) -> str:
    keys = [str(p) for p in rest if isinstance(p, str)]
    name = ".".join(keys) if keys else "this entry"
    if rest and isinstance(rest[-1], int):
        return f"`{name}` item {rest[-1] + 1}"
    return f"`{name}`"


def _sentence(error: Any, data: Any) -> str | None:
    """Translate one pydantic error; None drops noise that another error explains."""
    loc: Path_ = tuple(error["loc"])
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    owner, rest = _where(loc, data)

    if kind == "too_short" and isinstance(value, list) and len(value) >= ctx.get("min_length", 1):
        return None  # items inside the list failed; those errors are reported themselves
    if kind == "extra_forbidden":
        key = str(loc[-1])
        model = _model_at(loc[:-1])
        allowed = _keys_of(model) if model else []
        noun = "condition" if model is Conditions else "effect" if model is Effects else "key"
        hint = _suggest(key, allowed)
        if not hint and allowed:
            hint = "; expected one of: " + ", ".join(allowed)
        return f"{owner}unknown {noun} `{key}`{hint}"

    field = _field(rest)
    if kind == "missing":
        return f"{owner}`{loc[-1]}` is required"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"{owner}{field} must be a whole number, not {_show(value)}"
    if kind in ("bool_type", "bool_parsing"):
        return f"{owner}{field} must be true or false, not {_show(value)}"
    if kind in ("string_type", "string_sub_type"):
        return f"{owner}{field} must be text, not {_show(value)}"
    if kind == "string_too_short":
        return f"{owner}{field} can't be empty"
    if kind in ("tuple_type", "list_type"):
        return f"{owner}{field} must be a list, such as `[a, b]`, not {_show(value)}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"{owner}{field} must be a mapping of keys to values, not {_show(value)}"
    if kind == "too_short":
        return f"{owner}{field} needs at least one entry"
    if kind == "greater_than_equal":
        return f"{owner}{field} must be at least {ctx.get('ge')}, not {_show(value)}"
    if kind == "literal_error":
        expected = [e.strip().strip("'") for e in str(ctx.get("expected", "")).split(",")]
        expected = [p.strip().strip("'") for e in expected for p in e.split(" or ")]
        hint = _suggest(str(value), expected)
        if set(expected) == set(RESOLUTIONS):
            return (
                f"{owner}unknown resolution {_show(value)} in {field}; "
                f"choose from {', '.join(RESOLUTIONS)}{hint}"
            )
        return f"{owner}{field} must be one of {', '.join(expected)}, not {_show(value)}{hint}"
    if kind == "policy":
        message = str(error["msg"])
        if message.startswith(("must", "can't", "lists")):
            return f"{owner}{field} {message}"
        return f"{owner}{message}" if not rest else f"{owner}{field}: {message}"
    return f"{owner}{field}: {error['msg']}"


# ---------------------------------------------------------------------------
# cross-reference checks


def _condition_reason_codes(when: Any, path: Path_) -> typing.Iterator[tuple[Path_, str]]:
    """Every (path, code) inside `reason_in`, including nested `any` / `not`."""
    if not isinstance(when, dict):
        return
    codes = when.get("reason_in")
    if isinstance(codes, list):
        for index, code in enumerate(codes):
            if isinstance(code, str):
                yield (*path, "reason_in", index), code
    nested = when.get("any")
    if isinstance(nested, list):
        for index, sub in enumerate(nested):
            yield from _condition_reason_codes(sub, (*path, "any", index))
    yield from _condition_reason_codes(when.get("not"), (*path, "not"))


def _cross_checks(data: dict[str, Any]) -> list[tuple[Path_, str]]:
    problems: list[tuple[Path_, str]] = []
    reasons = data.get("reasons")
    codes: list[str] = []
    if isinstance(reasons, list):
        for index, reason in enumerate(reasons):
            code = reason.get("code") if isinstance(reason, dict) else None
            if isinstance(code, str):
                if code in codes:
                    problems.append(
                        (("reasons", index, "code"), f"reason code `{code}` is used twice")
                    )
                codes.append(code)
    warehouses = data.get("warehouses")
    warehouse_ids = list(warehouses) if isinstance(warehouses, dict) else None

    rules = data.get("rules")
    if not isinstance(rules, list):
        return problems
    first_use: dict[str, int] = {}
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict):
            continue
        label = _rule_label(data, index)
        name = rule.get("name")
        if isinstance(name, str):
            if name in first_use:
                problems.append(
                    (
                        ("rules", index, "name"),
                        f"the rule name `{name}` is already used by rule "
                        f"#{first_use[name] + 1}; rule names must be unique",
                    )
                )
            else:
                first_use[name] = index
        then = rule.get("then")
        destination = then.get("destination") if isinstance(then, dict) else None
        if (
            isinstance(destination, str)
            and warehouse_ids is not None
            and destination not in warehouse_ids
        ):
            hint = _suggest(destination, warehouse_ids) or (
                "; known warehouses: " + ", ".join(warehouse_ids)
            )
            problems.append(
                (
                    ("rules", index, "then", "destination"),
                    f"{label}: unknown warehouse `{destination}` in `destination`{hint}",
                )
            )
        if isinstance(reasons, list):
            for path, code in _condition_reason_codes(rule.get("when"), ("rules", index, "when")):
                if code not in codes:
                    hint = _suggest(code, codes) or ("; known codes: " + ", ".join(codes))
                    problems.append(
                        (path, f"{label}: unknown reason code `{code}` in `reason_in`{hint}")
                    )
    return problems


# ---------------------------------------------------------------------------
# entry points


def _position(builder: _Builder, loc: Path_, *, key: bool) -> tuple[int, int]:
    """Best position for a path: its key (for unknown keys) or value, else its parent."""
    if key and loc in builder.keys:
        return builder.keys[loc]
    probe = loc
    while probe:
        if probe in builder.values:
            return builder.values[probe]
        probe = probe[:-1]
    return builder.values.get((), (1, 1))


def validate_policy_text(
    text: str, file: str = "<policy>"
) -> tuple[Policy | None, list[PolicyError]]:
    """Validate policy text; returns the policy or every error (for live editors)."""
    try:
        node = YAML(typ="rt").compose(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        return None, [PolicyError(file, line, column, f"this is not valid YAML: {problem}")]
    except YAMLError as exc:
        return None, [PolicyError(file, 1, 1, f"this is not valid YAML: {exc}")]
    if node is None:
        return None, [PolicyError(file, 1, 1, "the policy file is empty")]
    if not isinstance(node, MappingNode):
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        return None, [
            PolicyError(file, line, column, "a policy must be a mapping of keys such as `name:`")
        ]

    builder = _Builder()
    data = builder.build(node)
    found: list[tuple[tuple[int, int], str]] = list(builder.problems)

    policy: Policy | None = None
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            sentence = _sentence(error, data)
            if sentence is None:
                continue
            loc = tuple(error["loc"])
            found.append(
                (_position(builder, loc, key=error["type"] == "extra_forbidden"), sentence)
            )
    for loc, sentence in _cross_checks(data):
        found.append((_position(builder, loc, key=False), sentence))

    if found:
        unique = sorted(set(found))
        return None, [PolicyError(file, line, col, message) for (line, col), message in unique]
    return policy, []


def load_policy(text: str, file: str = "<policy>") -> Policy:
    """Parse and validate policy text, raising PolicyLoadError with every problem."""
    policy, errors = validate_policy_text(text, file)
    if errors or policy is None:
        raise PolicyLoadError(errors)
    return policy


def load_policy_file(path: str | Path) -> tuple[Policy, str]:
    """Load a policy file; returns the policy and its text (for the fingerprint)."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise PolicyLoadError([PolicyError(name, 1, 1, f"can't read the file: {reason}")]) from exc
    return load_policy(text, name), text
