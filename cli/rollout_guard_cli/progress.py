"""Progress of long work on a terminal: a bar on stderr (rich) when stderr is a terminal, nothing at all when it is
not, so pipes, files and JSON stay clean. The bar is transient: once the work is done it is erased."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

Advance = Callable[[int], None]


@contextlib.contextmanager
def shown(description: str, total: int) -> Iterator[Advance]:
    """`advance(n)` moves the bar by n of `total`; a no-op off a terminal."""
    if not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(file=sys.stderr), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
