"""Rich tables that stay readable in a narrow terminal: headers wrap, numbers are never cut.

    for table in fit_tables("edge bench", ["model", "batch", "median"], rows, width=console.width, keys=2):
        console.print(table)

The first ``text`` columns are text (left-aligned; they wrap, and fold past TEXT_MAX); the others hold
numbers (right-aligned, never wrapped, as wide as their widest cell; a longer header breaks at its
spaces). When the table is wider than the terminal, the other columns are split over several tables
that each repeat the first ``keys`` columns.
"""
from typing import List, Optional, Sequence

BORDER = 3  # per column of rich's default box: one rule and one space of padding on each side
TEXT_MAX = 16  # a text column is counted at most this wide when the table is split (it folds)


def fit_tables(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]], width: int, keys: int = 1,
               text: int = 1, caption: Optional[str] = None) -> List:
    """``rows`` (strings, one per header) as rich Tables no wider than ``width`` where the numbers allow:
    the title on the first, the caption on the last."""
    from rich.table import Table
    from rich.text import Text

    def widest(i):
        return max([len(r[i]) for r in rows] or [0])

    heads = [h if i < text or len(h) <= widest(i) else "\n".join(h.split()) for i, h in enumerate(headers)]
    need = [max(widest(i), *(len(line) for line in h.split("\n"))) for i, h in enumerate(heads)]
    for i in range(text):
        need[i] = min(max([len(w) for r in rows for w in r[i].split()] + [len(heads[i])]), TEXT_MAX)
    chunks = _chunks([n + BORDER for n in need[keys:]], width - 1 - sum(n + BORDER for n in need[:keys]))
    tables = []
    for n, chunk in enumerate(chunks):
        columns = list(range(keys)) + [keys + i for i in chunk]
        t = Table(title=Text(title) if n == 0 else None,
                  caption=Text(caption) if caption and n == len(chunks) - 1 else None)
        for i in columns:
            if i < text:
                t.add_column(Text(heads[i]), justify="left", overflow="fold")
            else:
                t.add_column(Text(heads[i]), justify="right", no_wrap=True, min_width=need[i])
        for r in rows:
            t.add_row(*[Text(r[i]) for i in columns])
        tables.append(t)
    return tables


def _chunks(widths: Sequence[int], room: int) -> List[List[int]]:
    """Indices of ``widths`` in order, in the fewest runs of even length that each fit in ``room`` (a run
    of one column stays, fitting or not)."""
    n = len(widths)
    for count in range(1, n + 1):
        size = -(-n // count)
        runs = [list(range(i, min(i + size, n))) for i in range(0, n, size)]
        if all(len(r) == 1 or sum(widths[i] for i in r) <= room for r in runs):
            return runs
    return [[]]


def key_value_table(title: str, rows: Sequence[Sequence[str]], justify: str = "left",
                    caption: Optional[str] = None):
    """A two-column table (a bold name, its value) whose text is shown as written (no rich markup);
    a long value wraps at spaces and folds, so its numbers stay whole."""
    from rich.table import Table
    from rich.text import Text

    t = Table(title=Text(title), show_header=False, caption=Text(caption) if caption else None)
    t.add_column(style="bold", overflow="fold")
    t.add_column(justify=justify, overflow="fold")
    for name, value in rows:
        t.add_row(Text(name), Text(value))
    return t
