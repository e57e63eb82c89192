"""Example ``result`` bodies written from qualtrics-api.md (never from emulator output).

Each module of this package defines ``EXAMPLES: list[tuple[type, object]]``: a model and
one example body of what Qualtrics returns for it. ``tests/test_contract.py`` decodes each
with unknown fields *forbidden*, so a misspelled field name in a model fails loudly.
"""
