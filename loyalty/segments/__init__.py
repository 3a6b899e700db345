"""Segments: named groups of members by recency, frequency, spend, tier, birthday or favourite
category; their definitions, who belongs, and a preview of their size."""
