"""The programme's settings (time zone, expiry, pending period) and its tier ladder, with the
pure rules of tiers; every other capability reads these and this imports none of them."""
