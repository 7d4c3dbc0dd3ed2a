"""Personal-data detection: each detector on seeded positives and negatives, the public suite."""

from __future__ import annotations

import ipaddress
import random

import hypothesis
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SUITE
from mlcycle.data import PiiFinding, detect_pii
from mlcycle.data._pii import FIRST_NAMES, luhn_valid, mask_value

N = 300
SURNAMES = ["Smith", "Jones", "Garcia", "Müller", "Okafor", "Nguyen", "O'Brien", "Kowalski"]
STREETS = ["Baker", "Downing", "Elm", "High", "Church", "Mill", "Oak", "Park"]
STREET_WORDS = ["Street", "St", "Avenue", "Ave", "Road", "Rd", "Lane", "Blvd", "Drive"]


def kinds(df: pd.DataFrame, **kwargs: float) -> dict[str, str]:
    return {f.column: f.kind for f in detect_pii(df, **kwargs)}


def with_check_digit(body: str) -> str:
    for digit in "0123456789":
        if luhn_valid(body + digit):
            return body + digit
    raise AssertionError("unreachable")


def cards(rng: random.Random, n: int = N) -> list[str]:
    out = []
    for _ in range(n):
        prefix, length = rng.choice([("4", 16), ("51", 16), ("37", 15), ("6011", 16), ("4", 13)])
        body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
        out.append(with_check_digit(body))
    return out


def group4(digits: str, sep: str) -> str:
    return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))


def not_luhn(rng: random.Random, n: int = N) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        digits = rng.choice("456") + "".join(rng.choice("0123456789") for _ in range(15))
        if not luhn_valid(digits):
            out.append(digits)
    return out


def phones(rng: random.Random, n: int = N) -> list[str]:
    def d(k: int) -> str:
        return "".join(rng.choice("0123456789") for _ in range(k))

    formats = [
        lambda: f"+44 20 {d(4)} {d(4)}",
        lambda: f"({rng.randint(200, 999)}) {d(3)}-{d(4)}",
        lambda: f"{rng.randint(200, 999)}-{d(3)}-{d(4)}",
        lambda: f"+1-{rng.randint(200, 999)}-{d(3)}-{d(4)}",
        lambda: f"+49 30 {d(8)}",
        lambda: f"06 {d(2)} {d(2)} {d(2)} {d(2)}",
    ]
    return [rng.choice(formats)() for _ in range(n)]


def ssns(rng: random.Random, n: int = N) -> list[str]:
    return [
        f"{rng.randint(1, 665):03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"
        for _ in range(n)
    ]


def names(rng: random.Random, n: int = N) -> list[str]:
    firsts = sorted(FIRST_NAMES)
    out = []
    for _ in range(n):
        first, last = rng.choice(firsts).capitalize(), rng.choice(SURNAMES)
        out.append(rng.choice([f"{first} {last}", f"{last}, {first}", f"{first} J. {last}"]))
    return out


def addresses(rng: random.Random, n: int = N) -> list[str]:
    formats = [
        lambda: f"{rng.randint(1, 999)} {rng.choice(STREETS)} {rng.choice(STREET_WORDS)}",
        lambda: f"{rng.randint(1, 300)}B {rng.choice(STREETS)} Street, London",
        lambda: f"{rng.choice(['Haupt', 'Bahnhof', 'Schiller'])}straße {rng.randint(1, 99)}",
        lambda: f"{rng.randint(1, 99)} rue de {rng.choice(['Rivoli', 'la Paix'])}",
        lambda: f"Calle {rng.choice(['Mayor', 'Real'])} {rng.randint(1, 99)}",
        lambda: f"{rng.choice(['Kerk', 'Dorp'])}straat {rng.randint(1, 200)}",
    ]
    return [rng.choice(formats)() for _ in range(n)]


@pytest.fixture
def rng() -> random.Random:
    return random.Random(20240611)


# --------------------------------------------------------------------------- detectors


def test_emails_are_found_whole_and_inside_text(rng: random.Random) -> None:
    users = [f"user{rng.randint(0, 10**6)}" for _ in range(N)]
    df = pd.DataFrame(
        {
            "contact": [f"{u}@example.com" for u in users],
            "message": [f"please write to {u}@mail.example.org today" for u in users],
            "handle": [f"@{u}" for u in users],
        }
    )
    assert kinds(df) == {"contact": "email", "message": "email"}


def test_email_column_name_alone_is_not_enough(rng: random.Random) -> None:
    df = pd.DataFrame({"email": [rng.choice(["yes", "no", "unknown"]) for _ in range(N)]})
    assert detect_pii(df) == []


def test_valid_card_numbers_are_found_in_every_layout(rng: random.Random) -> None:
    numbers = cards(rng)
    df = pd.DataFrame(
        {
            "plain": numbers,
            "spaced": [group4(c, " ") for c in numbers],
            "dashed": [group4(c, "-") for c in numbers],
            "as_int": np.array([int(c) for c in numbers], dtype="int64"),
        }
    )
    assert kinds(df) == dict.fromkeys(df.columns, "credit_card")


def test_cards_stored_as_float_with_missing_values_are_found(rng: random.Random) -> None:
    values = [float(c) for c in cards(rng) if len(c) == 16 and c[0] in "45"]
    values[::5] = [np.nan] * len(values[::5])
    assert kinds(pd.DataFrame({"x": values})) == {"x": "credit_card"}


def test_digits_failing_luhn_are_not_cards(rng: random.Random) -> None:
    numbers = not_luhn(rng)
    df = pd.DataFrame(
        {
            "plain": numbers,
            "spaced": [group4(c, " ") for c in numbers],
            "as_int": np.array([int(c) for c in numbers], dtype="int64"),
        }
    )
    assert detect_pii(df) == []


def test_random_large_integers_are_neither_cards_nor_phones() -> None:
    gen = np.random.default_rng(7)
    df = pd.DataFrame(
        {
            "id16": gen.integers(10**15, 10**16, 5000),
            "id10": gen.integers(10**9, 10**10, 5000),
            "amount": gen.integers(10**6, 10**8, 5000),
            "ratio": gen.normal(size=5000),
        }
    )
    assert detect_pii(df) == []


def test_phone_formats_are_found(rng: random.Random) -> None:
    df = pd.DataFrame({"contact_number": phones(rng)})
    assert kinds(df) == {"contact_number": "phone"}
    assert kinds(pd.DataFrame({"p": ["+44 20 7946 0958", "(555) 123-4567"]})) == {"p": "phone"}


def test_bare_digits_are_phones_only_under_a_phone_name() -> None:
    gen = np.random.default_rng(3)
    numbers = gen.integers(2 * 10**9, 10**10, N)
    assert kinds(pd.DataFrame({"mobile_phone": numbers})) == {"mobile_phone": "phone"}
    assert kinds(pd.DataFrame({"mobile_phone": numbers.astype(str)})) == {"mobile_phone": "phone"}
    assert detect_pii(pd.DataFrame({"reading": numbers})) == []


def test_numbers_dates_and_ranges_are_not_phones(rng: random.Random) -> None:
    df = pd.DataFrame(
        {
            "date": [f"20{rng.randint(10, 24)}-{rng.randint(1, 12):02d}-01" for _ in range(N)],
            "eu_date": [
                f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.2021" for _ in range(N)
            ],
            "decimal": [f"{rng.uniform(-1e6, 1e6):.4f}" for _ in range(N)],
            "thousands": [f"{rng.randint(10**6, 10**9):,}" for _ in range(N)],
            "range": [f"{rng.randint(10**5, 5 * 10**5)}-{rng.randint(6 * 10**5, 10**6)}"] * N,
            "version": [f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 99)}"] * N,
            "years": [f"{rng.randint(1990, 2000)}-{rng.randint(2001, 2020)}" for _ in range(N)],
            "isbn": [
                f"978-{rng.randint(0, 9)}-{rng.randint(10, 99)}-{rng.randint(10**5, 10**6 - 1)}-"
                f"{rng.randint(0, 9)}"
                for _ in range(N)
            ],
            "code": [f"{rng.randint(100, 999)}-{rng.randint(1000, 9999)}" for _ in range(N)],
        }
    )
    assert detect_pii(df) == []
    # a seven-digit local number needs the column name to be read as a phone
    assert kinds(df[["code"]].rename(columns={"code": "tel"})) == {"tel": "phone"}


def test_ipv4_and_ipv6_addresses_are_found(rng: random.Random) -> None:
    v4 = [str(ipaddress.IPv4Address(rng.getrandbits(32))) for _ in range(N)]
    v6 = [str(ipaddress.IPv6Address(rng.getrandbits(128))) for _ in range(N)]
    df = pd.DataFrame({"client": v4, "peer": v6, "mixed": v4[: N // 2] + v6[N // 2 :]})
    assert kinds(df) == dict.fromkeys(df.columns, "ip_address")


def test_dotted_strings_that_are_not_addresses_are_not_ips(rng: random.Random) -> None:
    df = pd.DataFrame(
        {
            "bad_octets": [f"{rng.randint(256, 999)}.1.1.{rng.randint(0, 9)}" for _ in range(N)],
            "clock": [f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}" for _ in range(N)],
        }
    )
    assert detect_pii(df) == []


def test_ssn_and_nino_are_national_ids(rng: random.Random) -> None:
    ninos = [
        f"{rng.choice('ABCEH')}{rng.choice('ABCEH')} {rng.randint(10, 99)} "
        f"{rng.randint(10, 99)} {rng.randint(10, 99)} {rng.choice('ABCD')}"
        for _ in range(N)
    ]
    df = pd.DataFrame({"x": ssns(rng), "y": ninos})
    assert kinds(df) == {"x": "national_id", "y": "national_id"}
    assert kinds(pd.DataFrame({"s": ["123-45-6789"]})) == {"s": "national_id"}


def test_invalid_ssn_areas_are_not_national_ids(rng: random.Random) -> None:
    area = [rng.choice(["000", "666", "901", "987"]) for _ in range(N)]
    df = pd.DataFrame({"x": [f"{a}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}" for a in area]})
    assert detect_pii(df) == []


def test_id_like_values_need_an_id_name(rng: random.Random) -> None:
    passports = [f"X{rng.randint(10**7, 10**8 - 1)}" for _ in range(N)]
    assert kinds(pd.DataFrame({"passport_no": passports})) == {"passport_no": "national_id"}
    assert detect_pii(pd.DataFrame({"order": passports})) == []
    nine = np.array([rng.randint(10**8, 6 * 10**8) for _ in range(N)], dtype="int64")
    assert kinds(pd.DataFrame({"ssn": nine})) == {"ssn": "national_id"}
    assert detect_pii(pd.DataFrame({"count": nine})) == []


def test_street_addresses_in_several_languages(rng: random.Random) -> None:
    df = pd.DataFrame({"where": addresses(rng)})
    assert kinds(df) == {"where": "street_address"}
    fixed = pd.DataFrame({"a": ["221B Baker Street", "10 Downing St", "Hauptstraße 12"]})
    assert kinds(fixed) == {"a": "street_address"}


def test_measurements_and_seasons_are_not_addresses(rng: random.Random) -> None:
    df = pd.DataFrame(
        {
            "area": [f"{rng.randint(300, 3000)} sq ft" for _ in range(N)],
            "rooms": [f"{rng.randint(1, 5)} bd {rng.randint(1, 3)} ba" for _ in range(N)],
            "term": [f"{rng.choice(['Spring', 'Fall'])} {rng.randint(2000, 2024)}"] * N,
            "gate": [f"Gate {rng.randint(1, 60)}" for _ in range(N)],
        }
    )
    assert detect_pii(df) == []


def test_person_names_are_found_by_list_and_by_hint(rng: random.Random) -> None:
    df = pd.DataFrame(
        {
            "customer": names(rng),
            "surname": [rng.choice(SURNAMES) + rng.choice(["", "son", "ez"]) for _ in range(N)],
            "given": [rng.choice(sorted(FIRST_NAMES)).capitalize() for _ in range(N)],
        }
    )
    assert kinds(df) == dict.fromkeys(df.columns, "person_name")


def test_capitalised_categories_are_not_names(rng: random.Random) -> None:
    months = ["January", "February", "March", "April", "May", "June", "July", "August"]
    df = pd.DataFrame(
        {
            "city": [
                rng.choice(["New York", "Los Angeles", "San Diego", "El Paso"]) for _ in range(N)
            ],
            "month": [rng.choice(months) for _ in range(N)],
            "answer": [rng.choice(["Yes", "No"]) for _ in range(N)],
            "state": [rng.choice(["NSW", "QLD", "VIC", "Other"]) for _ in range(N)],
            "name": [rng.choice(["Control", "Treatment"]) for _ in range(N)],
            "product_name": [f"{rng.choice(['Acme', 'Zeta'])} Widget" for _ in range(N)],
        }
    )
    assert detect_pii(df) == []


def test_min_share_decides_and_the_dominant_kind_wins(rng: random.Random) -> None:
    values = [f"u{i}@example.com" if i % 5 == 0 else "n/a" for i in range(N)]
    df = pd.DataFrame({"c": values})
    assert detect_pii(df) == []
    (finding,) = detect_pii(df, min_share=0.1)
    assert (finding.kind, finding.share) == ("email", pytest.approx(0.2))
    mixed = pd.DataFrame({"c": ssns(rng, 60) + phones(rng, 40)})
    (finding,) = detect_pii(mixed)
    assert finding.kind == "national_id" and "phone numbers" in finding.detail


def test_missing_values_are_ignored_and_empty_columns_skipped(rng: random.Random) -> None:
    values: list[str | None] = [f"{u}@example.com" for u in range(N)]
    values[::2] = [None] * len(values[::2])
    df = pd.DataFrame({"e": values, "empty": [None] * N, "flag": [True] * N})
    (finding,) = detect_pii(df)
    assert (finding.column, finding.share) == ("e", 1.0)


def test_large_frames_are_sampled_reproducibly() -> None:
    n = 200_000
    df = pd.DataFrame(
        {
            "e": [f"user{i}@example.com" for i in range(n)],
            "x": np.arange(n),
            "cat": pd.Categorical(["a", "b"] * (n // 2)),
        }
    )
    first = detect_pii(df, sample=1000)
    assert first == detect_pii(df, sample=1000)
    assert [(f.column, f.kind) for f in first] == [("e", "email")]
    assert "1,000 sampled" in first[0].detail


def test_finding_shape_and_serialisation() -> None:
    (finding,) = detect_pii(pd.DataFrame({"email": ["ann@example.com", "bob@example.com"]}))
    assert isinstance(finding, PiiFinding)
    assert finding.to_dict() == {
        "column": "email",
        "kind": "email",
        "share": 1.0,
        "examples": ["a***@example.com", "b***@example.com"],
        "detail": "100% of 2 sampled values look like e-mail addresses; "
        "the column name 'email' agrees",
    }
    with pytest.raises(AttributeError):
        finding.kind = "phone"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"sample": 0}, "'sample'"), ({"min_share": 0}, "'min_share'"), ({"min_share": 2}, "in")],
)
def test_bad_parameters_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        detect_pii(pd.DataFrame({"a": [1]}), **kwargs)


# --------------------------------------------------------------------------- masking


def test_examples_are_masked_never_raw(rng: random.Random) -> None:
    numbers = cards(rng)
    df = pd.DataFrame(
        {
            "email": [f"person{i}@example.com" for i in range(N)],
            "card": [group4(c, " ") for c in numbers],
            "card_int": np.array([int(c) for c in numbers], dtype="int64"),
            "phone": phones(rng),
            "ssn": ssns(rng),
            "ip": [str(ipaddress.IPv4Address(rng.getrandbits(32))) for _ in range(N)],
            "name": names(rng),
            "address": addresses(rng),
        }
    )
    findings = detect_pii(df)
    assert {f.column for f in findings} == set(df.columns)
    for finding in findings:
        raw = {str(v) for v in df[finding.column]}
        assert finding.examples, finding
        for example in finding.examples:
            assert example not in raw
            assert not any(value in example for value in raw), (finding.column, example)


@pytest.mark.parametrize(
    ("value", "kind", "masked"),
    [
        ("john@example.com", "email", "j***@example.com"),
        ("4000 0000 0008 1234", "credit_card", "**** **** **** 1234"),
        ("+44 20 7946 0958", "phone", "+** ** **** **58"),
        ("123-45-6789", "national_id", "***-**-6789"),
        ("192.168.1.20", "ip_address", "192.168.*.*"),
        ("John Smith", "person_name", "J*** S***"),
        ("221B Baker Street", "street_address", "*** B*** Street"),
    ],
)
def test_mask_keeps_a_format_hint(value: str, kind: str, masked: str) -> None:
    assert mask_value(value, kind) == masked
    assert mask_value(value) == masked  # the value's own shape picks the same rule


@given(st.text(min_size=1, max_size=40), st.sampled_from([None, "email", "phone", "person_name"]))
@settings(max_examples=200, deadline=None)
@hypothesis.example("*", None)
@hypothesis.example(" ** ", "person_name")
@hypothesis.example("###", None)
def test_mask_never_contains_the_value(value: str, kind: str | None) -> None:
    if value.strip():
        assert value.strip() not in mask_value(value, kind)


# --------------------------------------------------------------------------- public suite


@pytest.mark.parametrize("name", sorted(SUITE))
def test_no_false_positives_on_the_public_suite(public, name: str) -> None:
    assert detect_pii(public(name).frame) == []
