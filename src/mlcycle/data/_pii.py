"""Personal-data suspects: which columns hold e-mails, phones, names, ids, cards, IPs, addresses.

:func:`detect_pii` reads a seeded sample of each text-like column (and of integer columns,
where card numbers and ids often end up) and flags a column when enough of its values have
the shape of one kind of personal data. Column names are a hint that raises confidence,
never the only signal, except for person names (see below). Examples in a finding are
masked: a report never repeats the raw values it warns about.

Detectors and their limits:

- ``email``: ``local@domain.tld``; also counted when the address sits inside free text.
- ``phone``: 8-15 digits (E.164) with a leading ``+``/``00`` or separators (space, ``-``,
  ``.``, ``/``, parentheses), optional extension. Dates, decimals, thousands groups
  (so Spanish ``612 345 678`` is missed), year and number ranges and ISBNs are not
  phones. Bare digit strings, integers and 7-digit local numbers (``555-1234``) count
  only in a column named like a phone (phone, tel, mobile, fax).
- ``national_id``: US SSN ``123-45-6789`` (invalid areas 000/666/9xx, group 00 and serial
  0000 excluded), UK National Insurance number ``AB 12 34 56 C`` (letter rules of HMRC).
  Any other id-like value (6-20 characters, mostly digits) counts only in a column named
  like an id (ssn, nin, passport, tax_id, ...).
- ``credit_card``: 13-19 digits, spaces or dashes allowed, first digit 2-6 (the payment
  card industries of ISO/IEC 7812) and a valid Luhn check digit. Strings, integers and
  integer-valued floats are read.
- ``ip_address``: IPv4 and IPv6 as accepted by :mod:`ipaddress`.
- ``street_address``: a house number next to a street word, in English (221B Baker Street,
  10 Downing St), French, Spanish, Portuguese, Italian, German, Dutch and Scandinavian
  forms (10 rue de Rivoli, Calle Mayor 5, Hauptstraße 12, Kerkstraat 3). Addresses
  without a separate street word ("12 Kingsway") are missed.
- ``person_name``: no download and no network. A value is name-shaped when it is 1-3
  capitalised words (particles such as *van*, *de*, initials and "Last, First" allowed).
  Without a column-name hint a value counts only when it has two or more words and its
  first name is in a built-in list of a few hundred common given names (mostly European
  and American, some Hispanic, Indian, Arabic and East Asian); a column of single words
  needs 60% list hits over at least 10 different names. With a hint (name, first_name,
  surname, full_name, ...), shape suffices if the column has the variety of names.
  Precision limits: names outside the list are missed unless the column name hints at
  them; surname-only columns need the hint; two-word values that start with a common
  given name ("Jordan Valley", "Victoria Park") can be flagged.

Values are matched whole (e-mail excepted), so personal data scattered inside free text
is not detected.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["KINDS", "PiiFinding", "as_text", "column_tokens", "detect_pii", "mask_value"]

# Order breaks ties: a more specific kind wins over a looser one (an SSN is also phone-shaped).
KINDS: tuple[str, ...] = (
    "email",
    "credit_card",
    "national_id",
    "ip_address",
    "street_address",
    "phone",
    "person_name",
)

_SEED = 0
_LONGEST = 5000  # characters of a free-text value searched for an e-mail address
_EXAMPLES = 3


@dataclass(frozen=True)
class PiiFinding:
    """One column that looks like personal data.

    ``share`` is the fraction of sampled non-missing values that match ``kind``;
    ``examples`` are masked, never raw; ``detail`` says what matched, in words.
    """

    column: str
    kind: str
    share: float
    examples: tuple[str, ...]
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "kind": self.kind,
            "share": self.share,
            "examples": list(self.examples),
            "detail": self.detail,
        }


# --------------------------------------------------------------------------- patterns

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_EMAIL = rf"[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]+@{_LABEL}(?:\.{_LABEL})*\.[A-Za-z]{{2,24}}"
EMAIL_RE = re.compile(_EMAIL)

_PHONE = re.compile(
    r"^(?P<body>(?:\+|00)?\s?(?:\(\d{1,5}\)|\d)[\d\s().\-/]*\d)"
    r"(?:\s*(?:x|ext\.?|extension)\s*\d{1,5})?$",
    re.IGNORECASE,
)
_DATE = re.compile(r"^(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})$")
# 1 234 567 / 1,234,567.89 / 1.234.567,89: one group separator, a different decimal one.
_THOUSANDS = re.compile(r"^-?\d{1,3}(?P<sep>[ ,.'\u00a0])\d{3}(?:(?P=sep)\d{3})*(?P<dec>[.,]\d+)?$")
_YEARS = re.compile(r"^(?:19|20)\d\d\s*[-/]\s*(?:19|20)\d\d$")  # 1990-2005
_SSN = re.compile(r"^(?!000|666|9\d\d)\d{3}([- ]?)(?!00)\d{2}\1(?!0000)\d{4}$")
_SSN_DASHED = re.compile(r"^\d{3}-\d{2}-\d{4}$")
_NINO = re.compile(
    r"^(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
    r"\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]$",
    re.IGNORECASE,
)
_ID_LIKE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ./-]{4,22}[A-Za-z0-9]$")
_CARD = re.compile(r"^\d(?:[ -]?\d){12,18}$")
_IP_CHARS = re.compile(r"^[0-9A-Fa-f:.%a-zA-Z]+$")

_STREET_EN = (
    r"street|st|avenue|ave|av|road|rd|lane|ln|boulevard|blvd|drive|dr|court|ct|place|pl|"
    r"way|terrace|terr|close|crescent|cres|square|sq|highway|hwy|parkway|pkwy|circle|cir|"
    r"trail|trl|row|mews|gardens|gdns|grove|hill|walk|alley|plaza|broadway"
)
_STREET_LEAD = (  # street words that come before the name, number first or last
    r"rue|avenue|boulevard|chemin|allée|allee|impasse|place|quai|cours|"
    r"via|viale|piazza|corso|vicolo|calle|avenida|avda|paseo|plaza|camino|carrer|"
    r"rua|travessa|largo|praça|praca|estrada|rodovia"
)
_STREET_SUFFIX = (  # glued to the name: Hauptstraße, Bahnhofstr., Kerkstraat, Storgatan
    r"straße|strasse|str\.|gasse|weg|allee|platz|damm|ufer|steig|"
    r"straat|laan|gracht|plein|kade|singel|dijk|"
    r"gatan|gata|vägen|vej|veien|gade|katu"
)
_HOUSE = r"\d{1,5}[A-Za-z]?(?:[-/]\d{1,5}[A-Za-z]?)?"
_WORD = r"[^\W\d_][\w'\u2019.-]*"
_ADDRESS = re.compile(
    rf"^(?:{_HOUSE},?\s+(?:{_WORD}\s+){{1,4}}(?:{_STREET_EN})\b\.?"  # 221B Baker Street
    rf"|{_HOUSE},?\s+(?:{_STREET_LEAD})\b\.?\s+[^\W\d_]{{2,}}"  # 10 rue de Rivoli
    rf"|(?:{_STREET_LEAD})\b\.?\s+(?:{_WORD}\s+){{1,4}}?{_HOUSE}\b"  # Calle Mayor 5
    rf"|(?:{_WORD}\s+){{0,3}}?[^\W\d_]+(?:{_STREET_SUFFIX})\s*,?\s+{_HOUSE}\b"  # Hauptstraße 12
    r").{0,80}$",
    re.IGNORECASE,
)
_ADDRESS_WORDS = re.compile(rf"^(?:{_STREET_EN}|{_STREET_LEAD})\.?$", re.IGNORECASE)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_PARTICLES = _words(
    "van von der den de del della di da dos das du la le mc mac o bin ibn al el ter ten"
)

# Column-name hints: whole tokens of the lower-cased, split column name.
_HINTS: dict[str, frozenset[str]] = {
    "email": frozenset({"email", "mail", "emailaddress"}),
    "phone": frozenset(
        {"phone", "telephone", "tel", "mobile", "cellphone", "fax", "msisdn", "phoneno"}
    ),
    "national_id": frozenset(
        {
            "ssn",
            "socialsecurity",
            "nin",
            "nino",
            "nationalid",
            "nationalinsurance",
            "passport",
            "taxid",
            "taxnumber",
            "tin",
            "sin",
            "personnummer",
            "bsn",
            "dni",
            "nie",
            "nif",
            "aadhaar",
            "insee",
            "cpr",
            "pesel",
            "idcard",
            "idnumber",
            "driverslicense",
            "drivinglicence",
        }
    ),
    "credit_card": frozenset({"card", "cc", "ccnum", "credit", "pan", "creditcard"}),
    "ip_address": frozenset({"ip", "ipaddress", "ipaddr", "ipv4", "ipv6", "remoteaddr"}),
    "street_address": frozenset({"address", "addr", "street", "addressline", "streetaddress"}),
    "person_name": frozenset(
        {
            "name",
            "names",
            "firstname",
            "lastname",
            "surname",
            "fullname",
            "givenname",
            "familyname",
            "forename",
            "middlename",
            "maidenname",
            "fname",
            "lname",
        }
    ),
}
# A "name" column about something other than a person.
_NOT_PERSON = _words(
    """
    file host user username domain product company brand model item street city country
    state region category class species column table field key type school org
    organisation organization team dataset feature variable package app project device
    server bank store shop drug gene disease job title event
    """
)

# A few hundred common given names, lower case; the name detector's only word list.
FIRST_NAMES = _words(
    """
    aaron abigail adam adrian aiden alan albert alejandro alex alexander alexandra alexis
    alice alicia alison allison amanda amber amelia amy ana andrea andrew angela anna anne
    annie anthony antonio april ariana arthur ashley audrey austin ava barbara benjamin
    bernard beth betty beverly bill billy blake bobby bradley brandon brenda brian brittany
    bruce bryan caleb cameron carl carla carlos carol caroline carolyn catherine charles
    charlie charlotte chloe chris christian christina christine christopher cindy claire
    claude clara craig crystal cynthia daniel danielle david dean deborah debra denise
    dennis derek diana diane donald donna doris dorothy douglas dylan edward eleanor elena
    elijah elizabeth ella ellen emily emma eric erica erin ethan eugene eva evelyn frances
    francis frank gabriel gary george gerald gloria grace gregory hannah harold harry
    heather helen henry holly howard ian isaac isabel isabella jack jacob jacqueline james
    jane janet janice jason jean jeffrey jennifer jeremy jerry jesse jessica joan joe john
    johnny jonathan jordan jose joseph joshua joyce juan judith judy julia julie justin
    karen katherine kathleen kathryn katie kayla keith kelly kenneth kevin kimberly kyle
    laura lauren lawrence leah lily linda lisa logan lori louis lucas lucy luis luke lynn
    madison margaret maria marie marilyn mark martha martin mary mason matthew megan
    melissa michael michelle mildred nancy natalie nathan nicholas nicole noah norma olivia
    oliver pamela patricia patrick paul peter philip phillip rachel ralph randy raymond
    rebecca richard robert roger ronald rose russell ruth ryan samantha samuel sandra sara
    sarah scott sean sharon shirley sophia sophie stephanie stephen steven susan teresa
    terry theresa thomas timothy tyler victoria vincent virginia walter wayne william
    willie zachary harper mia evelyn scarlett layla nora zoe riley hazel violet aurora
    lucas liam elias leo theo hugo felix max maximilian paul jonas lukas finn ben luca
    leon julian moritz niklas tobias florian sebastian stefan andreas wolfgang klaus jurgen
    hans dieter helmut uwe sabine ursula monika petra birgit heike anke katrin silke
    jean pierre jacques michel philippe alain nicolas christophe laurent olivier thierry
    francois sylvie nathalie isabelle sandrine valerie celine camille manon chloe lea ines
    giuseppe giovanni francesco marco luigi alessandro matteo lorenzo andrea paolo roberto
    giulia chiara francesca sofia martina federica valentina alessia silvia elisa
    javier miguel pablo sergio manuel francisco rafael diego fernando jorge ricardo pedro
    carmen lucia marta paula laura cristina raquel beatriz isabel pilar rosa mercedes
    joao tiago rui goncalo mariana ines beatriz catarina
    jan piet kees henk johan willem daan sem bram lotte sanne femke anouk
    lars nils erik anders magnus sven olof ingrid astrid freya sigrid karin
    piotr krzysztof tomasz pawel michal marcin agnieszka katarzyna malgorzata
    ivan dmitri sergei alexei mikhail olga tatiana natasha svetlana irina
    mohammed muhammad ahmed ali omar hassan hussein yusuf ibrahim fatima aisha zainab
    mariam layla noor khalid tariq karim amir samir
    raj rahul amit vijay sanjay ravi arjun rohan priya anjali deepa sunita pooja neha
    kavya ananya aditya vikram suresh ramesh
    wei ming jun hiroshi takashi kenji yuki haruka sakura yuna minho jiwoon seojun
    """
)


# --------------------------------------------------------------------------- helpers


def column_tokens(column: object) -> set[str]:
    """Lower-case words of a column name, with adjacent pairs joined (first_name: firstname)."""
    text = re.sub(r"([a-z])([A-Z])", r"\1_\2", str(column))
    parts = [p for p in re.split(r"[^a-z0-9]+", text.lower()) if p]
    joined = {"".join(parts[i : i + 2]) for i in range(len(parts) - 1)}
    return set(parts) | joined | {"".join(parts)}


def _hints(column: object) -> set[str]:
    tokens = column_tokens(column)
    found = {kind for kind, words in _HINTS.items() if tokens & words}
    if "person_name" in found and tokens & _NOT_PERSON:
        found.discard("person_name")
    return found


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def luhn_valid(digits: str) -> bool:
    """True when a string of digits passes the Luhn (mod 10) check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _is_card(value: str) -> bool:
    if not _CARD.match(value):
        return False
    digits = _digits(value)
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_valid(digits)


def _is_phone(value: str, hinted: bool) -> bool:
    if value.isdigit():
        return hinted and 7 <= len(value) <= 15
    match = _PHONE.match(value)
    if not match or _is_ip(value) or _DATE.match(value) or _SSN_DASHED.match(value):
        return False
    thousands = _THOUSANDS.match(value)
    if thousands and (not thousands["dec"] or thousands["dec"][0] != thousands["sep"]):
        return False
    body = match["body"]
    digits = _digits(body)
    if not (7 if hinted else 8) <= len(digits) <= 15 or _YEARS.match(body):
        return False
    international = body.startswith(("+", "00"))
    if not international:
        try:
            float(body)
            return False  # a plain number, signed or decimal
        except ValueError:
            pass
    groups = [g for g in re.split(r"\D+", body) if g]
    if len(groups) < 2 and not international:
        return hinted
    if not international and (len(groups[0]) > 5 or min(map(len, groups[1:])) == 1):
        return False  # 100000-200000 is a range and 978-3-16-148410-0 an ISBN
    return all(len(g) <= 10 for g in groups)


def _is_national_id(value: str, hinted: bool) -> bool:
    if _SSN.match(value) and (not value.isdigit() or hinted):
        return True
    if _NINO.match(value):
        return True
    if hinted and _ID_LIKE.match(value):
        return sum(c.isdigit() for c in value) >= max(4, len(value) // 2)
    return False


def _is_ip(value: str) -> bool:
    if ("." not in value and ":" not in value) or not _IP_CHARS.match(value):
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_address(value: str) -> bool:
    if len(value) > 120 or not any(c.isdigit() for c in value):
        return False
    return bool(_ADDRESS.match(value))


def _name_word(token: str) -> bool:
    if len(token) < 2 or not token[0].isupper():
        return False
    if not all(c.isalpha() or c in "'\u2019-" for c in token):
        return False
    return not (token.isupper() and len(token) <= 3)  # NSW, USA, QLD are not names


def _name_parts(value: str) -> list[str] | None:
    """The core words of a name-shaped value, given name first; None when not name-shaped."""
    if not value or len(value) > 60:
        return None
    if "," in value:
        halves = [h.strip() for h in value.split(",")]
        if len(halves) != 2 or not all(halves):
            return None
        tokens = halves[1].split() + halves[0].split()
    else:
        tokens = value.split()
    if not 1 <= len(tokens) <= 5:
        return None
    core = []
    for token in tokens:
        if token.lower() in _PARTICLES or re.fullmatch(r"[A-Z]\.?", token):
            continue
        if not _name_word(token):
            return None
        core.append(token)
    return core if 1 <= len(core) <= 3 else None


# --------------------------------------------------------------------------- masking


def _mask_email(value: str) -> str:
    def one(match: re.Match[str]) -> str:
        local, _, domain = match.group(0).partition("@")
        return f"{local[:1]}***@{domain}"

    return EMAIL_RE.sub(one, value)


def _keep_last(value: str, keep: int) -> str:
    """Digits and letters become ``*`` except the last ``keep`` of them; separators stay."""
    positions = [i for i, c in enumerate(value) if c.isalnum()]
    hidden = set(positions[: max(len(positions) - keep, 0)])
    return "".join("*" if i in hidden else c for i, c in enumerate(value))


def _mask_ip(value: str) -> str:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return "***"
    if address.version == 4:
        a, b, _, _ = value.split(".")
        return f"{a}.{b}.*.*"
    groups = address.exploded.split(":")
    return f"{groups[0]}:{groups[1]}:*:*:*:*:*:*"


def _mask_words(value: str) -> str:
    def word(token: str) -> str:
        if any(c.isdigit() for c in token):
            return "***"
        if _ADDRESS_WORDS.match(token) or token.lower() in _PARTICLES:
            return token
        return f"{token[:1]}***" if token[:1].isalpha() else "***"

    return " ".join(word(t) for t in value.replace(",", " ").split())


def mask_value(value: object, kind: str | None = None) -> str:
    """A masked rendering of ``value`` that keeps a hint of its format, never the value.

    E-mail ``j***@example.com``, card ``**** **** **** 1234``, phone ``+** ** **** **58``,
    SSN ``***-**-6789``, IP ``192.168.*.*``, name ``J*** S***``. Without ``kind`` the
    shape of the value picks the rule.
    """
    text = as_text(value)
    masked = _mask(text, _kind_of(text) if kind is None else kind)
    if text and text in masked:  # a one-letter name, a value of asterisks: the mask shows it
        fill = "#" if set(text) == {"*"} else "*"  # a run of one character holds only runs of it
        return fill * max(len(masked), 3)
    return masked


def _mask(text: str, kind: str | None) -> str:
    if kind == "email" and EMAIL_RE.search(text):
        return _mask_email(text)
    if kind == "credit_card":
        return _keep_last(text, 4)
    if kind == "phone":
        return _keep_last(text, 2)
    if kind == "national_id":
        return _keep_last(text, 4 if _SSN.match(text) else 2)
    if kind == "ip_address":
        return _mask_ip(text)
    if kind in ("person_name", "street_address"):
        return _mask_words(text)
    if len(text) <= 2:
        return "*" * max(len(text), 1)
    return f"{text[:1]}{'*' * min(len(text) - 1, 8)}"


def _kind_of(text: str) -> str | None:
    """The kind a single value looks like, most specific first (None: nothing)."""
    checks = {
        "email": lambda v: "@" in v and bool(EMAIL_RE.search(v[:_LONGEST])),
        "credit_card": _is_card,
        "national_id": lambda v: _is_national_id(v, False),
        "ip_address": _is_ip,
        "street_address": _is_address,
        "phone": lambda v: _is_phone(v, False),
        "person_name": lambda v: _name_parts(v) is not None,
    }
    for kind in KINDS:
        if checks[kind](text):
            return kind
    return None


# --------------------------------------------------------------------------- detection


def as_text(value: object) -> str:
    """The text a value is matched, masked and hashed as (``4.0`` reads as ``4``)."""
    if type(value) is str:
        return value.strip()
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _candidate_values(series: pd.Series) -> pd.Series | None:
    """Non-missing sampled values as stripped strings, or None for columns never scanned."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype):
        return None
    if isinstance(dtype, pd.PeriodDtype | pd.IntervalDtype) or pd.api.types.is_timedelta64_dtype(
        dtype
    ):
        return None
    values = series.dropna()
    if values.empty:
        return None
    if pd.api.types.is_float_dtype(dtype):
        array = values.to_numpy(dtype="float64")
        if not np.all(np.isfinite(array)) or np.any(np.abs(array) >= 2**63):
            return None
        if not np.all(np.mod(array, 1) == 0):
            return None  # measurements, not numbers that identify someone
        values = pd.Series(array.astype("int64"), index=values.index)
    elif isinstance(dtype, pd.CategoricalDtype):
        values = values.astype(object)
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.astype("int64").abs().astype(str)
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_complex_dtype(values.dtype):
        return None
    texts = values.map(as_text)
    return texts[texts != ""]


@dataclass
class _Scan:
    matches: dict[str, np.ndarray]
    name_distinct: int
    single_hits: np.ndarray


def _scan(texts: pd.Series, hints: set[str], numeric: bool) -> _Scan:
    uniques, codes = np.unique(texts.to_numpy(dtype=object), return_inverse=True)
    n_unique = len(uniques)
    flags = {kind: np.zeros(n_unique, dtype=bool) for kind in KINDS}
    hinted_name = "person_name" in hints
    single_hit = np.zeros(n_unique, dtype=bool)
    hit_names: set[str] = set()
    for i, value in enumerate(uniques):
        if numeric:
            flags["credit_card"][i] = _is_card(value)
            flags["phone"][i] = "phone" in hints and 7 <= len(value) <= 15
            flags["national_id"][i] = "national_id" in hints and 5 <= len(value) <= 20
            continue
        flags["email"][i] = "@" in value and bool(EMAIL_RE.search(value[:_LONGEST]))
        if flags["email"][i]:
            continue
        flags["credit_card"][i] = _is_card(value)
        flags["national_id"][i] = _is_national_id(value, "national_id" in hints)
        flags["ip_address"][i] = _is_ip(value)
        flags["street_address"][i] = _is_address(value)
        flags["phone"][i] = _is_phone(value, "phone" in hints)
        parts = _name_parts(value)
        if parts is None:
            continue
        listed = parts[0].lower() in FIRST_NAMES
        if hinted_name or (listed and len(parts) >= 2):
            flags["person_name"][i] = True
        if listed:
            hit_names.add(parts[0].lower())
            single_hit[i] = len(parts) == 1
    matches = {kind: flag[codes] for kind, flag in flags.items()}
    return _Scan(matches, len(hit_names), single_hit[codes])


def _sample_positions(n_rows: int, sample: int) -> np.ndarray | None:
    if n_rows <= sample:
        return None
    rng = np.random.default_rng(_SEED)
    return np.sort(rng.choice(n_rows, size=sample, replace=False))


def _describe(kind: str) -> str:
    return {
        "email": "e-mail addresses",
        "phone": "phone numbers",
        "person_name": "person names",
        "national_id": "national id numbers",
        "credit_card": "payment card numbers (Luhn valid)",
        "ip_address": "IP addresses",
        "street_address": "street addresses",
    }[kind]


def detect_pii(df: pd.DataFrame, *, sample: int = 5000, min_share: float = 0.3) -> list[PiiFinding]:
    """Columns of ``df`` that look like personal data, at most one finding per column.

    A seeded sample of ``sample`` rows is read, so a million-row table costs the same as
    a five-thousand-row one. A column is flagged with the kind whose share of matching
    non-missing values is largest, when that share is at least ``min_share``.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"contact": ["ann@example.com", "bob@example.org"]})
    >>> [(f.column, f.kind, f.examples) for f in detect_pii(df)]
    [('contact', 'email', ('a***@example.com', 'b***@example.org'))]
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"detect_pii() takes a pandas DataFrame. Got {type(df).__name__} instead.")
    if isinstance(sample, bool) or not isinstance(sample, int) or sample < 1:
        raise ValueError(
            f"The 'sample' parameter of detect_pii() must be an integer >= 1. Got {sample!r}."
        )
    if not 0 < min_share <= 1:
        raise ValueError(
            "The 'min_share' parameter of detect_pii() must be a number in (0, 1]. "
            f"Got {min_share!r} instead."
        )
    positions = _sample_positions(len(df), sample)
    frame = df if positions is None else df.iloc[positions]
    findings: list[PiiFinding] = []
    for position, column in enumerate(df.columns):
        series = frame.iloc[:, position]
        texts = _candidate_values(series)
        if texts is None or texts.empty:
            continue
        numeric = not (
            pd.api.types.is_object_dtype(series.dtype)
            or pd.api.types.is_string_dtype(series.dtype)
            or isinstance(series.dtype, pd.CategoricalDtype)
        )
        hints = _hints(column)
        finding = _judge(str(column), texts, hints, numeric, min_share)
        if finding is not None:
            findings.append(finding)
    return findings


def _judge(
    column: str, texts: pd.Series, hints: set[str], numeric: bool, min_share: float
) -> PiiFinding | None:
    scan = _scan(texts, hints, numeric)
    n = len(texts)
    shares = {kind: float(match.mean()) for kind, match in scan.matches.items()}
    if not numeric:
        name_ok = shares["person_name"] >= min_share
        if "person_name" in hints:
            distinct = texts[scan.matches["person_name"]].nunique()
            name_ok = name_ok and (scan.name_distinct >= 3 or distinct >= min(20, n // 2 + 1))
        elif not name_ok and scan.name_distinct >= 10:
            # a column of single given names ("Anna", "Peter") without a hint
            single = float(scan.single_hits.mean())
            if single >= max(min_share, 0.6):
                shares["person_name"] = single
                scan.matches["person_name"] = scan.single_hits
                name_ok = True
        if not name_ok:
            shares["person_name"] = 0.0
    best = max(KINDS, key=lambda k: (shares[k], -KINDS.index(k)))
    share = shares[best]
    if share < min_share or share == 0.0:
        return None
    matched = pd.unique(texts[scan.matches[best]].to_numpy())[:_EXAMPLES]
    if best == "email":  # only the address, not the free text around it
        matched = [m.group(0) for v in matched if (m := EMAIL_RE.search(v))]
    examples = tuple(mask_value(v, best) for v in matched)
    others = [
        f"{_describe(k)} {shares[k]:.0%}" for k in KINDS if k != best and shares[k] >= min_share
    ]
    detail = f"{share:.0%} of {n:,} sampled values look like {_describe(best)}"
    if best in hints:
        detail += f"; the column name '{column}' agrees"
    if others:
        detail += f"; also {', '.join(others)}"
    return PiiFinding(column, best, round(share, 4), examples, detail)
