"""Fixtures for the merchant-console tests."""

from __future__ import annotations

import pytest

from portal.returns.links import LinkSigner
from tests.conftest import TEST_SECRET


@pytest.fixture
def signer() -> LinkSigner:
    return LinkSigner(TEST_SECRET)
