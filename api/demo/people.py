"""The demo's members, drawn from a seeded generator: names, birthdays, habits."""

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from api.demo.catalogue import EMAIL_DOMAIN, SHOPS

_FIRST = ("Emma", "Louis", "Jade", "Gabriel", "Louise", "Raphaël", "Alice", "Arthur", "Chloé",
          "Jules", "Lina", "Adam", "Rose", "Maël", "Anna", "Lucas", "Mia", "Hugo", "Léna",
          "Noah", "Yuki", "Kenji", "Aiko", "Sofia", "Marco", "Nina", "Omar", "Inès", "Tom",
          "Zoé", "Sacha", "Eva", "Théo", "Manon", "Paul", "Sarah", "Victor", "Clara")
_LAST = ("Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois",
         "Moreau", "Laurent", "Simon", "Michel", "Lefebvre", "Leroy", "Roux", "David",
         "Bertrand", "Morel", "Fournier", "Girard", "Tanaka", "Sato", "Rossi", "Garcia",
         "Bonnet", "Dupont", "Lambert", "Fontaine", "Rousseau", "Vincent", "Muller", "Faure")
_ASCII = str.maketrans("éèëêàçïôü", "eeeeaciou")

# Orders a month, and how many members (%) have the habit: most come now and then, a few
# every week (about four orders a member over the year: each is some fifteen round trips
# to the database, and the demo should load in well under a minute).
_HABITS = ((0.1, 40), (0.3, 33), (0.8, 19), (2.5, 8))


@dataclass(frozen=True, slots=True)
class Person:
    number: int
    name: str
    email: str
    birthday: date | None
    joins_at: datetime
    orders_per_month: float
    home_shop: int
    """Index in SHOPS of the store where they usually buy."""
    referred_by: int | None
    """The number of an earlier member who brought them, if any."""


def people(count: int, *, rng: random.Random, start: datetime, end: datetime) -> list[Person]:
    """`count` members, the first one (the featured member) an early and frequent one;
    ordered by the time they join."""
    span = (end - start).total_seconds()
    days = sorted(rng.uniform(0.01, 0.9) * span // 86400 for _ in range(count - 1))
    joins = [start + timedelta(days=2, hours=10)] + sorted(
        start + timedelta(days=day, hours=rng.randint(8, 19), minutes=rng.randint(0, 59))
        for day in days)
    rates, weights = zip(*_HABITS, strict=True)
    found: list[Person] = []
    for number, joins_at in enumerate(joins):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        handle = f"{first}.{last}".lower().translate(_ASCII)
        birthday = None if rng.random() < 0.2 else date(
            rng.randint(1960, 2005), rng.randint(1, 12), rng.randint(1, 28))
        featured = number == 0
        referred = (rng.randrange(number) if number > 5 and rng.random() < 0.12 else None)
        found.append(Person(
            number=number, name=f"{first} {last}", email=f"{handle}.{number}@{EMAIL_DOMAIN}",
            birthday=birthday,
            joins_at=joins_at,
            orders_per_month=6.0 if featured else rng.choices(rates, weights)[0],
            home_shop=0 if featured else rng.randrange(len(SHOPS)), referred_by=referred,
        ))
    return found
