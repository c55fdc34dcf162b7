"""Every job name has exactly one function, and every function a name."""

from __future__ import annotations

import pytest

from portal.composition import PACKAGE_JOBS, job_registry
from portal.jobs.names import Job
from portal.jobs.registry import build_registry
from portal.settings import Settings


def test_every_job_name_has_exactly_one_function_and_every_function_a_name() -> None:
    claims = [(name, fn) for table in PACKAGE_JOBS for name, fn in table.items()]
    names = [name for name, _ in claims]
    assert sorted(names) == sorted(Job), "a name with no function, or with two"
    functions = [fn for _, fn in claims]
    assert len(set(functions)) == len(functions), "one function under two names"
    assert set(job_registry(Settings(_env_file=None))) == set(Job)  # type: ignore[call-arg]


def test_a_name_claimed_twice_is_refused() -> None:
    async def one(ctx, *, message_id): ...

    async def other(ctx, *, message_id): ...

    with pytest.raises(ValueError, match="registered twice"):
        build_registry([{Job.NOOP: one}, {Job.NOOP: other}])


def test_extra_job_modules_join_the_registry() -> None:
    settings = Settings(_env_file=None, job_modules="tests.support.jobs_for_tests")  # type: ignore[call-arg]
    assert {"test_slow_email", "test_always_fails"} <= set(job_registry(settings))
