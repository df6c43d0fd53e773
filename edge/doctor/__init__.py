"""``edge doctor``: facts about the machine (``probe``, run in a subprocess) and the checks on them
(``checks``: pure functions of the facts)."""
