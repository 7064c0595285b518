"""MOTIA_LOOP picks the runtime's event loop: uvloop when installed, unless told otherwise."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

from motia.errors import UsageError
from motia.runner import _loop
from motia.runner._loop import loop_name, run

HAS_UVLOOP = importlib.util.find_spec("uvloop") is not None


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_asyncio_keeps_the_standard_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTIA_LOOP", "asyncio")
    assert loop_name() == "asyncio"
    assert run(_loop_module()).startswith("asyncio")


@pytest.mark.skipif(not HAS_UVLOOP, reason="uvloop is not installed")
def test_unset_means_uvloop_when_it_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOTIA_LOOP", raising=False)
    assert loop_name() == "uvloop"
    assert run(_loop_module()) == "uvloop"


def test_unset_without_uvloop_means_asyncio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOTIA_LOOP", raising=False)
    monkeypatch.setattr(_loop.importlib.util, "find_spec", lambda name: None)
    assert loop_name() == "asyncio"


def test_asking_for_uvloop_without_it_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTIA_LOOP", "uvloop")
    monkeypatch.setattr(_loop.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UsageError, match=r"^MOTIA_LOOP=uvloop but uvloop is not installed: pip "
                                         r"install uvloop \(or `pip install 'motia\[fast\]'`\), "
                                         r"or unset MOTIA_LOOP$"):
        loop_name()


def test_an_unknown_loop_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTIA_LOOP", "trio")
    with pytest.raises(UsageError, match=r"^MOTIA_LOOP='trio' is not an event loop: use uvloop "
                                         r"or asyncio$"):
        loop_name()
