"""Invented people and organisations for sample referrals.

Nothing here is real: NHS numbers start 999 (never issued), telephone numbers sit in Ofcom's ranges kept for
drama (01632 960xxx, 07700 900xxx), personal mail goes to ``example.com`` (RFC 2606) and nhs.net addresses carry
``fake`` in the local part. Names and street names are common words put together at random. Every generator
takes a ``random.Random`` so a seed gives the same people every time.
"""

from __future__ import annotations

import datetime as dt
import random
import string
from dataclasses import dataclass
from typing import Literal

Sex = Literal["female", "male"]

FEMALE_FORENAMES = (
    "Margaret",
    "Joan",
    "Patricia",
    "Dorothy",
    "Sheila",
    "Brenda",
    "Maureen",
    "Jean",
    "Valerie",
    "Pauline",
    "Irene",
    "Sylvia",
    "Edna",
    "Rosemary",
    "Gillian",
    "Wendy",
    "Hazel",
    "Audrey",
    "Lorna",
    "Anne-Marie",
)
MALE_FORENAMES = (
    "Arthur",
    "Kenneth",
    "Derek",
    "Roy",
    "Malcolm",
    "Geoffrey",
    "Brian",
    "Dennis",
    "Clive",
    "Raymond",
    "Trevor",
    "Leonard",
    "Stanley",
    "Gordon",
    "Colin",
    "Barry",
    "Alan",
    "Norman",
    "Keith",
    "Jean-Paul",
)
MIDDLE_NAMES = ("Ann", "Mary", "Louise", "Elizabeth", "John", "James", "Edward", "William", "Rose", "Peter")
SURNAMES = (
    "Thurlow",
    "Blyth",
    "Gedge",
    "Howlett",
    "Pegg",
    "Catchpole",
    "Rudd",
    "Mallett",
    "Spinks",
    "Loades",
    "Bussey",
    "Cubitt",
    "Gotts",
    "Larter",
    "Rix",
    "Youngs",
    "Softley",
    "Tungate",
    "Ling",
    "Brundall-Hart",
    "O'Keefe",
    "Amos",
    "Kerrison",
    "Durrant",
    "Sayer",
    "Wegg",
    "Futter",
    "Pointer",
    "Chilvers",
    "Eke",
)
STREET_WORDS = (
    "Alder",
    "Beck",
    "Carrow",
    "Dove",
    "Elm",
    "Fen",
    "Gorse",
    "Heath",
    "Ivy",
    "Juniper",
    "Kestrel",
    "Linnet",
    "Marsh",
    "Nightingale",
    "Oak",
    "Poppy",
    "Reed",
    "Sedge",
    "Teal",
    "Wherry",
    "Willow",
    "Yew",
)
STREET_KINDS = ("Road", "Close", "Lane", "Way", "Gardens", "Drive", "Crescent", "Street")

# Norfolk postcode districts and the post town each belongs to.
POST_TOWNS = (
    ("NR1", "Norwich"),
    ("NR2", "Norwich"),
    ("NR3", "Norwich"),
    ("NR4", "Norwich"),
    ("NR5", "Norwich"),
    ("NR6", "Norwich"),
    ("NR7", "Norwich"),
    ("NR8", "Norwich"),
    ("NR11", "Norwich"),
    ("NR17", "Attleborough"),
    ("NR18", "Wymondham"),
    ("NR19", "Dereham"),
    ("NR21", "Fakenham"),
    ("NR26", "Sheringham"),
    ("NR27", "Cromer"),
    ("NR28", "North Walsham"),
    ("NR30", "Great Yarmouth"),
    ("NR31", "Great Yarmouth"),
    ("PE30", "King's Lynn"),
    ("PE31", "King's Lynn"),
    ("PE37", "Swaffham"),
    ("IP22", "Diss"),
)
# The letters allowed in the last two places of a postcode (no C, I, K, M, O, V).
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"

PHARMACY_NAMES = (
    "Larkwood Pharmacy",
    "Bure Meadows Chemist",
    "Wherry Lane Pharmacy",
    "Marshgate Pharmacy",
    "Heathside Pharmacy",
    "Yare Valley Chemist",
    "Poppyfield Pharmacy",
    "Kestrel Pharmacy",
)
CARE_PROVIDER_NAMES = (
    "Broadland Homecare (invented)",
    "Wensum Home Support (invented)",
    "Brecks Care at Home (invented)",
    "Coastline Domiciliary Care (invented)",
)


@dataclass(frozen=True)
class GPPractice:
    name: str
    ods_code: str


# Fixed, so the service's list of Norfolk practices can name them. No real practice has a D99 code.
GP_PRACTICES = (
    GPPractice("Larkwood Medical Practice", "D99001"),
    GPPractice("Bure Meadows Surgery", "D99002"),
    GPPractice("Wherry Lane Health Centre", "D99003"),
    GPPractice("Yare Valley Surgery", "D99004"),
    GPPractice("Heathside Family Practice", "D99005"),
    GPPractice("Marshgate Medical Centre", "D99006"),
    GPPractice("Tas Bridge Surgery", "D99007"),
    GPPractice("Kestrel House Surgery", "D99008"),
)
# Letter and five digits, but outside the list above: a practice the service would not recognise as Norfolk's.
OUT_OF_AREA_PRACTICE = GPPractice("Riverside Medical Centre (outside Norfolk)", "Y99901")


@dataclass(frozen=True)
class Staff:
    """Someone who signs a form for a pharmacy: ``gphc_number`` is set for registered roles only."""

    name: str
    role: Literal["Pharmacist", "Pharmacy technician", "Dispenser"]
    gphc_number: str | None


@dataclass(frozen=True)
class Pharmacy:
    name: str
    ods_code: str
    phone: str
    email: str
    pharmacist: Staff
    technician: Staff


@dataclass(frozen=True)
class Patient:
    """A patient with the GP practice and pharmacy they use, so every form of a referral agrees on them."""

    title: str
    forenames: str
    surname: str
    sex: Sex
    dob: dt.date
    nhs_number: str
    address: str
    postcode: str
    phone: str
    lives_alone: bool
    gp: GPPractice
    pharmacy: Pharmacy

    @property
    def full_name(self) -> str:
        return f"{self.forenames} {self.surname}"


@dataclass(frozen=True)
class Referrer:
    """Whoever fills in Form 1: the patient, a relative, a carer or a professional."""

    name: str
    role: str
    phone: str
    email: str | None
    organisation: str | None


@dataclass(frozen=True)
class CareProvider:
    name: str
    manager: str
    phone: str
    email: str


def seeded(*parts: object) -> random.Random:
    """A generator seeded by ``parts`` joined as text (stable across runs, unlike ``hash()``).

    Sample data needs repeatability, not secrecy, so the standard generator is the right one.
    """
    return random.Random(":".join(str(p) for p in parts))  # noqa: S311


def nhs_check_digit(first_nine: str) -> int | None:
    """The modulus 11 check digit for nine digits, or None when no tenth digit can make them valid."""
    total = sum(int(d) * w for d, w in zip(first_nine, range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        return 0
    return None if check == 10 else check


def is_valid_nhs_number(number: str) -> bool:
    if len(number) != 10 or not number.isdigit() or len(set(number)) == 1:
        return False
    return nhs_check_digit(number[:9]) == int(number[9])


def nhs_number(rng: random.Random) -> str:
    """A valid NHS number starting 999, which the NHS never issues."""
    while True:
        first_nine = "999" + "".join(rng.choice(string.digits) for _ in range(6))
        check = nhs_check_digit(first_nine)
        # About one prefix in eleven has no valid check digit: draw again.
        if check is not None:
            return f"{first_nine}{check}"


def landline(rng: random.Random) -> str:
    return f"01632 960{rng.randrange(1000):03d}"


def mobile(rng: random.Random) -> str:
    return f"07700 900{rng.randrange(1000):03d}"


def postcode_and_town(rng: random.Random) -> tuple[str, str]:
    district, town = rng.choice(POST_TOWNS)
    inward = f"{rng.randrange(10)}{rng.choice(INWARD_LETTERS)}{rng.choice(INWARD_LETTERS)}"
    return f"{district} {inward}", town


def person_name(rng: random.Random, sex: Sex | None = None) -> tuple[Sex, str, str]:
    """``(sex, forenames, surname)``; some people have a middle name, some names carry hyphens or apostrophes."""
    chosen: Sex = sex if sex is not None else rng.choice(("female", "male"))
    first = rng.choice(FEMALE_FORENAMES if chosen == "female" else MALE_FORENAMES)
    if rng.random() < 0.3:
        first = f"{first} {rng.choice(MIDDLE_NAMES)}"
    return chosen, first, rng.choice(SURNAMES)


def gp_practice(rng: random.Random) -> GPPractice:
    return rng.choice(GP_PRACTICES)


def staff(rng: random.Random, role: Literal["Pharmacist", "Pharmacy technician", "Dispenser"]) -> Staff:
    _, first, surname = person_name(rng)
    gphc = None if role == "Dispenser" else f"{rng.randrange(2000000, 2299999):07d}"
    return Staff(name=f"{first.split()[0]} {surname}", role=role, gphc_number=gphc)


def pharmacy(rng: random.Random) -> Pharmacy:
    suffix = "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(4))
    return Pharmacy(
        name=rng.choice(PHARMACY_NAMES),
        ods_code=f"F{suffix}",
        phone=landline(rng),
        email=f"pharmacy.fake{suffix.lower()}@nhs.net",
        pharmacist=staff(rng, "Pharmacist"),
        technician=staff(rng, "Pharmacy technician"),
    )


def address(rng: random.Random, town: str) -> str:
    # No county line: Royal Mail does not need one, and "Norfolk" is in the service's own name, so a test
    # looking for patient details in replies would find it there.
    street = f"{rng.randrange(1, 140)} {rng.choice(STREET_WORDS)} {rng.choice(STREET_KINDS)}"
    return f"{street}\n{town}"


def date_of_birth(rng: random.Random, today: dt.date, *, min_age: int = 40, max_age: int = 97) -> dt.date:
    """A birthday that makes the person between ``min_age`` and ``max_age`` years old on ``today``."""
    latest = _years_before(today, min_age)
    earliest = _years_before(today, max_age + 1) + dt.timedelta(days=1)
    return earliest + dt.timedelta(days=rng.randrange((latest - earliest).days + 1))


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year - years, day=28)


# Ages are counted from here when no ``today`` is given, so ``patient(3)`` is the same person on any day.
REFERENCE_DAY = dt.date(2026, 1, 1)


def patient(seed: int | random.Random = 0, *, today: dt.date | None = None) -> Patient:
    """An adult patient living in Norfolk, with a GP practice and a usual pharmacy.

    ``seed`` is a number (``patient(3)``) or a generator shared with other draws; ``today`` sets the ages
    (40 to 97 on that day), and without it they are counted from 1 January 2026, so adults stay adults.
    """
    rng = seed if isinstance(seed, random.Random) else seeded("patient", seed)
    today = today or REFERENCE_DAY
    sex, forenames, surname = person_name(rng)
    title = rng.choice(("Mrs", "Ms", "Miss") if sex == "female" else ("Mr",))
    if rng.random() < 0.05:
        title = rng.choice(("Dr", "Mx"))
    code, town = postcode_and_town(rng)
    return Patient(
        title=title,
        forenames=forenames,
        surname=surname,
        sex=sex,
        dob=date_of_birth(rng, today),
        nhs_number=nhs_number(rng),
        address=address(rng, town),
        postcode=code,
        phone=landline(rng) if rng.random() < 0.6 else mobile(rng),
        lives_alone=rng.random() < 0.6,
        gp=gp_practice(rng),
        pharmacy=pharmacy(rng),
    )


FORM1_ROLES = ("Self", "Relative", "Unpaid carer", "Care agency", "Community nurse", "GP practice")
ORGANISATION_ROLES = {
    "Care agency": "Broadland Homecare (invented)",
    "GP practice": "",  # filled with the patient's own practice
    "Community nurse": "Norfolk Community Nursing Team (invented)",
}


def form1_referrer(rng: random.Random, person: Patient, role: str | None = None) -> Referrer:
    """Who fills in Form 1 for ``person``: a relative shares the surname and writes from a personal address."""
    chosen = role if role is not None else rng.choice(FORM1_ROLES)
    if chosen == "Self":
        return Referrer(person.full_name, chosen, person.phone, None, None)
    if chosen in ("Relative", "Unpaid carer"):
        _, first, surname = person_name(rng)
        if chosen == "Relative":
            surname = person.surname
        local = f"{first.split()[0]}.{surname}".lower().replace("'", "")
        email = f"{local}{rng.randrange(10, 99)}@example.com"
        return Referrer(f"{first.split()[0]} {surname}", chosen, mobile(rng), email, None)
    organisation = ORGANISATION_ROLES.get(chosen) or person.gp.name
    _, first, surname = person_name(rng)
    email = f"{first.split()[0]}.{surname}.fake{rng.randrange(100, 999)}@nhs.net".lower().replace("'", "")
    return Referrer(f"{first.split()[0]} {surname}", chosen, landline(rng), email, organisation)


def care_provider(rng: random.Random) -> CareProvider:
    _, first, surname = person_name(rng)
    return CareProvider(
        name=rng.choice(CARE_PROVIDER_NAMES),
        manager=f"{first.split()[0]} {surname}",
        phone=landline(rng),
        email=f"homecare.fake{rng.randrange(100, 999)}@nhs.net",
    )
