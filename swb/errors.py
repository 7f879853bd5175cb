"""One exception type for everything a user can get wrong, so the CLI can print one line and exit 2."""

from __future__ import annotations


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
        super().__init__(text)


class SwbWarning(UserWarning):
    """Something the user should know that does not stop the work (the CLI prints it as one line on stderr)."""
