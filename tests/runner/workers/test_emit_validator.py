"""ctx.emit is judged like a request body: the topic's schema, formats included."""

from __future__ import annotations

import pytest

from motia.compiler.ir import App, Step, Topic
from motia.errors import EmitError
from motia.runner.workers._emits import EmitValidator

SIGNUP = {"type": "object", "required": ["email"],
          "properties": {"email": {"type": "string", "format": "email"}}}
APP = App(name="a", root="/", topics=(Topic("user.signed-up", SIGNUP, "Signup"),),
          steps=(Step(name="signup", type="api", emits=("user.signed-up",)),))


def test_a_value_breaking_its_format_is_rejected() -> None:
    # Given a topic whose schema asks for an e-mail address
    validator = EmitValidator(APP)
    # When a handler emits something that is not one, Then the emit raises at once
    with pytest.raises(EmitError, match=r"ctx.emit\('user.signed-up'\): data does not match the "
                                        r"topic's schema Signup: /email: 'ada' is not a 'email'"):
        validator.check(APP.steps[0], {"topic": "user.signed-up", "data": {"email": "ada"}})


def test_a_value_in_its_format_passes() -> None:
    emit = EmitValidator(APP).check(APP.steps[0], {"topic": "user.signed-up",
                                                   "data": {"email": "ada@example.com"}})
    assert (emit.topic, emit.data) == ("user.signed-up", {"email": "ada@example.com"})
