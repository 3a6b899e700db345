"""`kizuna demo`: a realistic programme with a year of history, written through the API."""
