"""Fixtures for the policy engine tests."""

from __future__ import annotations

from pathlib import Path

import pytest

POLICIES = Path(__file__).resolve().parents[2] / "policies"


@pytest.fixture(scope="session")
def policies_dir() -> Path:
    """The example policies shipped with the project."""
    return POLICIES
