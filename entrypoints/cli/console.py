"""Terminal output shared by commands: errors, progress and summary tables."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

BAD_INPUT = 2

console = Console()
errors = Console(stderr=True)


def fail_bad_input(message: str) -> NoReturn:
    """Print a bad-input error to stderr and exit with code 2."""
    errors.print(f"[bold red]error:[/bold red] {escape(message)}", highlight=False)
    raise typer.Exit(BAD_INPUT)


def progress_bar() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
