"""One exception type for everything a user can get wrong, so the CLI can print one line and exit 2, and one
warning type for what SWB reads but doubts (printed by the CLI as one line)."""

from __future__ import annotations

import warnings


def describe(message: str, *, file: str | None = None, prim: str | None = None, attribute: str | None = None,
             hint: str | None = None) -> str:
    """``file F, prim P, attribute A: message (hint)`` on one line."""
    where = ", ".join(
        part
        for part in (
            f"file {file}" if file else "",
            f"prim {prim}" if prim else "",
            f"attribute {attribute}" if attribute else "",
        )
        if part
    )
    text = f"{where}: {message}" if where else message
    if hint:
        text = f"{text} ({hint})"
    return " ".join(text.split())


class SwbError(Exception):
    """A problem with the user's input: names the file, prim, attribute and what to do about it."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        prim: str | None = None,
        attribute: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.file, self.prim, self.attribute, self.hint = file, prim, attribute, hint
        super().__init__(describe(message, file=file, prim=prim, attribute=attribute, hint=hint))


class SwbWarning(UserWarning):
    """Something in the input SWB reads but doubts (or skips): one line naming file, prim, attribute and the fix."""

    def __init__(self, message: str, *, file: str | None = None, prim: str | None = None,
                 attribute: str | None = None, hint: str | None = None) -> None:
        self.file, self.prim, self.attribute, self.hint = file, prim, attribute, hint
        super().__init__(describe(message, file=file, prim=prim, attribute=attribute, hint=hint))


def warn(message: str, *, file: str | None = None, prim: str | None = None, attribute: str | None = None,
         hint: str | None = None) -> None:
    """Issue an SwbWarning (Python's warnings machinery: filterable, and turned into errors by ``-W error``)."""
    warnings.warn(SwbWarning(message, file=file, prim=prim, attribute=attribute, hint=hint), stacklevel=3)
