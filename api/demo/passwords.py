"""Hashing the demo's few passwords once each, however many accounts share them."""

from auth.passwords import PasswordCost, Passwords


class SharedPasswords(Passwords):
    """Passwords whose `hash` is computed once per distinct password: every demo member
    shares one generated password, and a few hundred argon2 hashes at the production cost
    would take the demo a minute. The hashes are ordinary argon2id hashes at `cost`."""

    def __init__(self, cost: PasswordCost) -> None:
        super().__init__(cost)
        self._hashes: dict[str, str] = {}

    async def hash(self, password: str) -> str:
        known = self._hashes.get(password)
        if known is None:
            known = self._hashes[password] = await super().hash(password)
        return known
