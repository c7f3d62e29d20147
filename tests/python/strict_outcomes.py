"""A pytest plugin that makes "did not run" a failure in CI.

scripts/test.sh loads it (`-p strict_outcomes`) for every pytest run. When the
environment says CI (`CI=true`, as CI sets it), a test that was skipped (a module-level
skip included, like test_map_browser.py's when Chromium is missing), an expected
failure (xfail) and an unexpected pass (xpass) each fail the run: a green CI must mean
that every test ran and passed. Outside CI they are reported as usual, so a developer
without Chromium can still run the rest. scripts/test.sh plants each kind in a throwaway
directory and expects this plugin to fail the run (its self-check), so the rule cannot
rot unseen.
"""

from __future__ import annotations

import os

import pytest

# Each test or module that did not run as a plain pass: (kind, node id, reason).
_NOT_RUN: list[tuple[str, str, str]] = []


def strict() -> bool:
    """Whether this run is CI's (`CI` set to true, 1 or yes)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _reason(report) -> str:
    longrepr = report.longrepr
    # A skip's longrepr is (path, line, "Skipped: reason").
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(getattr(report, "wasxfail", "") or longrepr or "")


def pytest_collectreport(report) -> None:
    if report.skipped:
        _NOT_RUN.append(("skipped", report.nodeid, _reason(report)))


def pytest_runtest_logreport(report) -> None:
    if hasattr(report, "wasxfail"):
        if report.skipped:
            _NOT_RUN.append(("xfailed", report.nodeid, _reason(report)))
        elif report.passed and report.when == "call":
            _NOT_RUN.append(("xpassed", report.nodeid, _reason(report)))
    elif report.skipped:
        _NOT_RUN.append(("skipped", report.nodeid, _reason(report)))


def pytest_terminal_summary(terminalreporter) -> None:
    if not _NOT_RUN:
        return
    if strict():
        terminalreporter.section("CI counts these as failures (tests/python/strict_outcomes.py)", red=True)
    else:
        terminalreporter.section("not run as plain passes (a failure when CI=true)", yellow=True)
    for kind, nodeid, reason in _NOT_RUN:
        terminalreporter.write_line(f"{kind.upper()} {nodeid}: {reason}")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session) -> None:
    # OK, or "no tests collected" when everything collected was skipped.
    passing = (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
    if strict() and _NOT_RUN and session.exitstatus in passing:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
