"""Return policies as code: schema, loader, compiled evaluator and backtest.

The CLI group lives in `portal.policy.cli` (not imported here, so importing the
engine never pulls in click).
"""

from portal.policy.backtest import BacktestReport, StoredDecision, backtest
from portal.policy.evaluator import (
    CompiledPolicy,
    Decision,
    LineDecision,
    compile_policy,
    compile_policy_text,
    evaluate,
)
from portal.policy.loader import (
    PolicyError,
    PolicyLoadError,
    load_policy,
    load_policy_file,
    policy_sha256,
    validate_policy_text,
)
from portal.policy.request import EvaluationRequest, RequestError, parse_request
from portal.policy.schema import Policy

__all__ = [
    "BacktestReport",
    "CompiledPolicy",
    "Decision",
    "EvaluationRequest",
    "LineDecision",
    "Policy",
    "PolicyError",
    "PolicyLoadError",
    "RequestError",
    "StoredDecision",
    "backtest",
    "compile_policy",
    "compile_policy_text",
    "evaluate",
    "load_policy",
    "load_policy_file",
    "parse_request",
    "policy_sha256",
    "validate_policy_text",
]
