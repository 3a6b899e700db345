"""What members get beyond buying: birthday gifts, referrals, surveys with the NPS, and the
once-per-occasion gifts (points or a voucher) that birthdays and referrals give."""
