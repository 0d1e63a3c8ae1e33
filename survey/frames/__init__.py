"""Sample frames: the operator's customer lists a campaign draws from.

- ``sample_frame``: the five-star value tiers, synthetic frames, reading a frame file.
- ``importer``: importing the operator's CSV/XLSX export with a report per row.
- ``store``: storing a frame's customers.
- ``phones``: showing a phone number masked to staff who may not dial it.
- ``listing``: the stored frames with their customers, consents and opt-outs.

May import: :mod:`survey.db`.
"""
