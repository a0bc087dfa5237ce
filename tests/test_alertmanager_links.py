"""The Alertmanager links' percent-encoding: the fast path for ASCII is exactly `quote(text, safe="")`."""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from ilertd.plugins.alertmanager import percent_encoded


def test_every_ascii_character_is_encoded_as_quote_encodes_it() -> None:
    every = "".join(chr(code) for code in range(128))
    assert percent_encoded(every) == quote(every, safe="")


@given(st.text())
def test_any_text_is_encoded_as_quote_encodes_it(text: str) -> None:
    assert percent_encoded(text) == quote(text, safe="")


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_any_ascii_text_is_encoded_as_quote_encodes_it(text: str) -> None:
    assert percent_encoded(text) == quote(text, safe="")
