"""The one vocabulary for parameter tables, shared by every engine.

Every table of estimates that leaves ``models`` has these columns, in this order
(lavaan's ``parameterEstimates`` names, with ``p_value`` and ``std_estimate`` spelled out).
Engine-specific column names (semopy's ``"Std. Err"``, ``"-"`` cells) are translated at
the one adapter that talks to that engine.
"""

ESTIMATE_COLUMNS: tuple[str, ...] = (
    "lhs",
    "op",
    "rhs",
    "estimate",
    "std_estimate",
    "se",
    "z",
    "p_value",
    "ci_low",
    "ci_high",
)
