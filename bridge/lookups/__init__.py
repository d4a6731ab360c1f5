"""The staff lookups of one login user in every support tool: one module per tool (its
settings model, its call and its record shape), the list of types (:mod:`.registry`) and the
fan-out that asks them all at once (:mod:`.everywhere`)."""
