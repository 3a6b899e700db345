"""Load scenarios for Kizuna that print figures: `python -m bench <scenario>`.

Figures are printed, never asserted: the tests own correctness, the bench owns speed.
See bench/README.md for the scenarios and how to read their output.
"""
