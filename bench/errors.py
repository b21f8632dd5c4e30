"""Why the benchmark shows a page or job without a time: it is not built yet, or the seed writes nothing for
it (``scenarios`` lists what is measured, ``jobs`` and ``measure`` raise these)."""


class NotBuilt(Exception):
    """The page or job is not in the code base yet."""


class NoData(Exception):
    """The page exists but the seed writes nothing for it to show yet."""
