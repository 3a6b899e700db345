"""Vouchers at checkout: short codes, signed QR payloads and images, issuing, checking,
redeeming and voiding them, and rotating member cards scanned at the till."""
