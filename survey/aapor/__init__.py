"""AAPOR final dispositions and outcome rates (Standard Definitions, 10th edition).

- ``dispositions``: disposition codes and the categories rates are built from.
- ``rates``: RR1-RR6, COOP1-4, REF1-3, CON1-3 from counts of dispositions.
- ``web``: an SMS or web invitation's final disposition.

Pure: imports nothing of Manyi's.
"""
