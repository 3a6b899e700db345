"""Member self-registration, limited per client address."""

from collections.abc import Mapping
from datetime import date

from auth.accounts import Account, Enrolment, register_member
from auth.consents import Purpose
from auth.sign_in import Authenticator
from store.clock import Clock


async def register(
    auth: Authenticator,
    *,
    client_address: str,
    email: str,
    password: str,
    name: str,
    birthday: date | None,
    marketing_consent: bool,
    clock: Clock,
    enrolment: Enrolment | None = None,
    consents: Mapping[Purpose, bool] | None = None,
) -> Account:
    """Create a member account. Every attempt, accepted or not, counts against the client
    address, so one address cannot mint accounts (or probe which emails exist) at will.

    Raises RateLimited past `registrations_per_client` in a window (or while the server has
    too many passwords to hash), and whatever `register_member` raises.
    """
    # A place in the password line first: a request that would be refused costs nothing.
    async with auth.passwords.turn(client=client_address):
        await auth.attempts.reserve(
            {f"register:{client_address}": auth.limits.registrations_per_client},
            what="registrations from this address",
        )
        return await register_member(
            auth.store, auth.passwords, email=email, password=password, name=name,
            birthday=birthday, marketing_consent=marketing_consent, clock=clock,
            enrolment=enrolment, consents=consents,
        )
