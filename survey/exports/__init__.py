"""Responses for analysts: one row per response, a codebook, and files in four formats.

- ``responses``: reading one questionnaire version's responses, scoped to the reader.
- ``files``: CSV, XLSX, SPSS ``.sav`` and Parquet, each with its codebook.
- ``cells``: text as each format holds it: no formula in a spreadsheet's cell, no character a
  format refuses, and both counted for the codebook.

May import: :mod:`survey.staff` (scope), :mod:`survey.questionnaire`, :mod:`survey.db`.
"""
