"""The rewards catalogue: what members can spend points on, its price per tier, stock, windows
and eligibility rules. Turning a reward into a voucher is the scanner's use case."""
