"""Vouchers at checkout: short codes, signed QR payloads and images, issuing, checking,
redeeming and voiding them, rewards spent for vouchers, gift vouchers and their jobs, and
rotating member cards scanned at the till."""
