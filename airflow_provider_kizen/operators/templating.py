"""Which template field values Jinja would render to themselves, so rendering can leave them alone.

Airflow renders a templated field by compiling every string in it as a Jinja template. A payload of
thousands of literal records has tens of thousands of strings, and compiling them took most of a
second per thousand records before the task sent anything. A string with none of the environment's
template markers renders to itself, with two exceptions that are checked here: Jinja rewrites
line endings (``\\r\\n`` and ``\\r``, and ``\\n`` when the newline sequence is another one) and drops
one trailing newline unless ``keep_trailing_newline`` is on. Native rendering
(``render_template_as_native_obj``) turns plain strings such as ``"42"`` into Python values, so under
it nothing counts as plain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2

_PLAIN_SCALARS = (int, float, bool, type(None))


class PlainData:
    """Tells whether a value renders to itself in one Jinja environment."""

    def __init__(self, env: jinja2.Environment, template_ext: Sequence[str]) -> None:
        from jinja2.nativetypes import NativeEnvironment  # at render time: DAG parsing never needs Jinja

        self._markers = (env.block_start_string, env.variable_start_string, env.comment_start_string)
        self._template_ext = tuple(template_ext)
        self._newlines_kept = env.newline_sequence == "\n"
        self._trailing_newline_kept = env.keep_trailing_newline
        # Line statements and native rendering change text without any marker: render everything.
        self._never = (
            isinstance(env, NativeEnvironment)
            or bool(env.line_statement_prefix)
            or bool(env.line_comment_prefix)
        )

    def holds(self, value: Any) -> bool:
        """True when `value` is strings, numbers, booleans, None, lists, tuples and dicts of them,
        with no string that Jinja would change."""
        return not self._never and self._plain(value)

    def _plain(self, value: Any) -> bool:
        kind = type(value)
        if kind is str:
            return self._plain_text(value)
        if kind in _PLAIN_SCALARS:
            return True
        if kind is list or kind is tuple:
            return all(self._plain(item) for item in value)
        if kind is dict:  # Airflow renders a dict's values, never its keys
            return all(self._plain(item) for item in value.values())
        return False  # anything else (XComArg, models, sets, str subclasses...) goes through Airflow

    def _plain_text(self, text: str) -> bool:
        return not (
            any(marker in text for marker in self._markers)
            or "\r" in text
            or (not self._newlines_kept and "\n" in text)
            or (not self._trailing_newline_kept and text.endswith("\n"))
            or (bool(self._template_ext) and text.endswith(self._template_ext))
        )
