"""Identity numbers (DOMAIN.md "Identity numbers"): validators that never raise on any input.

Each ``check_*`` function takes whatever a form, an API or a feed handed over and returns a
:class:`Checked`: the normalized value to store, the warnings worth showing, and an error when the
value must be refused. The checksums come from python-stdnum; what stdnum gets wrong for a bank
is done here:

* resident ID (GB 11643): stdnum accepts a birth date in the future (refused here) and refuses a
  region code that did not exist on the birth date, although real cards carry the code of the place
  of registration when the card was issued (深圳南山 ``440305`` dates from 1990; people born in
  1964 hold it). Format, date and check character are validated here; the region is looked up
  separately and an unknown or newer region is only a warning. stdnum has no 15→18 conversion and
  its ``calc_check_digit`` drops the last character: :func:`resident_id_15_to_18` handles both.
* USCC (GB 32100): some early codes fail the MOD 31 check yet are real, so a failed check is a
  warning an authorised user may override with a reason (``Finding.overridable``).
* mobile: mainland numbers by pattern (fast path, no phonenumbers), other countries as E.164.
* bank card: Luhn; a failure is an error when staff typed the number, a warning from a feed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Literal

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from stdnum import luhn, numdb
from stdnum.cn import ric, uscc

from fincrm.customers.models import IdType

# Longer input is refused before any parsing: no ID, phone or card number comes close.
MAX_INPUT_LENGTH = 64
EARLIEST_BIRTH_YEAR = 1900

Message = str | Promise


@dataclass(frozen=True)
class Finding:
    """One problem with a value. ``overridable`` warnings block a write unless an authorised user
    overrides them with a reason; the others are only shown."""

    code: str
    message: Message
    overridable: bool = False


@dataclass(frozen=True)
class Checked:
    value: str = ""
    warnings: tuple[Finding, ...] = ()
    error: Finding | None = None
    # Facts a resident ID carries (GB 11643): birth date and gender (odd sequence = male).
    birth_date: date | None = None
    gender: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def blocking_warnings(self) -> tuple[Finding, ...]:
        return tuple(warning for warning in self.warnings if warning.overridable)


def _fail(code: str, message: Message) -> Checked:
    return Checked(error=Finding(code, message))


def _text(value: object) -> str | None:
    """The input as NFKC text (full-width digits become ASCII), or None when it cannot be text."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not isinstance(value, str | int):
        return None
    text = str(value)
    if len(text) > MAX_INPUT_LENGTH * 4:
        return None
    return unicodedata.normalize("NFKC", text).strip()


_DOCUMENT_SEPARATORS = re.compile(r"[\s\-()]")


def _document_text(value: object) -> str | None:
    text = _text(value)
    if text is None:
        return None
    return _DOCUMENT_SEPARATORS.sub("", text).upper()


def _too_long(text: str) -> bool:
    return len(text) > MAX_INPUT_LENGTH


# ---------------------------------------------------------------- resident ID (GB 11643)

_RESIDENT_18 = re.compile(r"[0-9]{17}[0-9X]")
_RESIDENT_15 = re.compile(r"[0-9]{15}")


def resident_id_check_character(body17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits (``X`` for 10).

    stdnum's ``calc_check_digit`` expects the full number and drops its last character, so a
    placeholder is appended."""
    return str(ric.calc_check_digit(body17 + "0"))


def resident_id_15_to_18(number: str) -> str:
    """A legacy 15-digit number as 18 digits: "19" inserted before the year, the check appended.

    The caller passes 15 digits (``_RESIDENT_15``); anything else is a programming error."""
    if not _RESIDENT_15.fullmatch(number):
        raise ValueError("a legacy resident ID has exactly 15 digits")
    body = number[:6] + "19" + number[6:]
    return body + resident_id_check_character(body)


def resident_id_18_to_15(number: str) -> str:
    """The legacy form of an 18-digit number born in the 1900s (the inverse of the conversion)."""
    return number[:6] + number[8:17]


@lru_cache(maxsize=8192)
@lru_cache(maxsize=262_144)  # imports check millions of IDs from a few thousand regions
def region_status(region: str, year: int) -> str:
    """``ok``, ``unknown`` (not in stdnum's table) or ``not_current`` (the code did not exist in
    the birth year: still valid, the card carries the code of the place of registration)."""
    try:
        results = numdb.get("cn/loc").info(region)
    except Exception:  # a broken data file must not refuse customers
        return "unknown"
    info = {key: text for _part, props in results for key, text in props.items()}
    counties = info.get("county")
    if not counties:
        return "unknown"
    for county in counties.split(","):
        if not county.startswith("["):
            return "ok"
        span = county[1:].split("]", 1)[0]
        start, _sep, end = span.partition("-")
        if (not start or int(start) <= year) and (not end or year <= int(end)):
            return "ok"
    return "not_current"


def check_resident_id(value: object, *, today: date | None = None) -> Checked:
    text = _document_text(value)
    if text is None or _too_long(text):
        return _fail("format", _("Enter the 18-character resident ID number."))
    if not text:
        return _fail("required", _("Enter the ID number."))
    if _RESIDENT_15.fullmatch(text):
        text = resident_id_15_to_18(text)
    elif not _RESIDENT_18.fullmatch(text):
        return _fail(
            "format",
            _("A resident ID number has 18 characters: 17 digits and a digit or X (or 15 digits)."),
        )
    try:
        born = date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        return _fail(
            "birth_date", _("The birth date inside the ID number (digits 7 to 14) is not a real date.")
        )
    today = today or timezone.localdate()
    if born > today:
        return _fail("birth_date_future", _("The birth date inside the ID number is in the future."))
    if born.year < EARLIEST_BIRTH_YEAR:
        return _fail(
            "birth_date",
            _("The birth date inside the ID number is before %(year)d.") % {"year": EARLIEST_BIRTH_YEAR},
        )
    if text[17] != resident_id_check_character(text[:17]):
        return _fail(
            "checksum",
            _("The check character (the last one) does not match: look for a mistyped digit."),
        )
    warnings: list[Finding] = []
    status = region_status(text[:6], born.year)
    if status == "unknown":
        warnings.append(
            Finding("region_unknown", _("The region code (the first 6 digits) is not in the code table."))
        )
    elif status == "not_current":
        warnings.append(
            Finding(
                "region_not_current",
                _("The region code was not in use in the birth year; cards issued later carry such codes."),
            )
        )
    gender = "male" if int(text[16]) % 2 else "female"
    return Checked(value=text, warnings=tuple(warnings), birth_date=born, gender=gender)


# ---------------------------------------------------------------- USCC (GB 32100)

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z
_USCC = re.compile(rf"[{USCC_ALPHABET}]{{2}}[0-9]{{6}}[{USCC_ALPHABET}]{{10}}")


def check_uscc(value: object) -> Checked:
    text = _document_text(value)
    if text is None or _too_long(text):
        return _fail("format", _("Enter the 18-character unified social credit code."))
    if not text:
        return _fail("required", _("Enter the unified social credit code."))
    if len(text) != 18:
        return _fail("length", _("A unified social credit code has 18 characters."))
    if not _USCC.fullmatch(text):
        return _fail(
            "format",
            _(
                "Use digits and capital letters other than I, O, S, V and Z; characters 3 to 8 "
                "(the region) are digits."
            ),
        )
    if text[-1] != uscc.calc_check_digit(text):
        warning = Finding(
            "uscc_checksum",
            _(
                "The check character does not match. Some early codes are real nonetheless: check "
                "the business licence, then confirm with a reason."
            ),
            overridable=True,
        )
        return Checked(value=text, warnings=(warning,))
    return Checked(value=text)


# ---------------------------------------------------------------- other identity documents

# Passports: ICAO 9303 document numbers, letters and digits (at least one digit), 5 to 17 long.
_PASSPORT = re.compile(r"(?=.*[0-9])[A-Z0-9]{5,17}")
# 港澳居民来往内地通行证: H (Hong Kong) or M (Macau) + 8 digits (cards before 2013: + 10 digits).
_HK_MACAU = re.compile(r"[HM](?:[0-9]{8}|[0-9]{10})")
# 台湾居民来往大陆通行证: 8 digits (since 2015); earlier booklets 10 digits and a letter.
_TAIWAN = re.compile(r"[0-9]{8}|[0-9]{10}[A-Z]?")
# 外国人永久居留身份证: 2004 cards 3 letters (nationality) + 12 digits; 2023 cards 18 characters
# starting with 9, shaped like a resident ID with the same MOD 11-2 check (check).
_FOREIGN_PR_OLD = re.compile(r"[A-Z]{3}[0-9]{12}")
_FOREIGN_PR_NEW = re.compile(r"9[0-9]{16}[0-9X]")


def check_passport(value: object) -> Checked:
    text = _document_text(value)
    if text is None or _too_long(text):
        return _fail("format", _("Enter the passport number."))
    if not text:
        return _fail("required", _("Enter the passport number."))
    if not _PASSPORT.fullmatch(text):
        return _fail(
            "format", _("A passport number has 5 to 17 letters and digits, with at least one digit.")
        )
    return Checked(value=text)


def check_hk_macau_permit(value: object) -> Checked:
    text = _document_text(value)
    if text is None or _too_long(text):
        return _fail("format", _("Enter the permit number."))
    if not text:
        return _fail("required", _("Enter the permit number."))
    if not _HK_MACAU.fullmatch(text):
        return _fail(
            "format", _("A Hong Kong or Macau permit number is H or M followed by 8 (or 10) digits.")
        )
    return Checked(value=text)


def check_taiwan_permit(value: object) -> Checked:
    text = _document_text(value)
    if text is None or _too_long(text):
        return _fail("format", _("Enter the permit number."))
    if not text:
        return _fail("required", _("Enter the permit number."))
    if not _TAIWAN.fullmatch(text):
        return _fail(
            "format", _("A Taiwan permit number has 8 digits (older permits: 10 digits and a letter).")
        )
    return Checked(value=text)


def check_foreign_permanent_residence(value: object, *, today: date | None = None) -> Checked:
    text = _document_text(value)
    if text is None or _too_long(text):
        return _fail("format", _("Enter the permanent residence ID number."))
    if not text:
        return _fail("required", _("Enter the permanent residence ID number."))
    if _FOREIGN_PR_OLD.fullmatch(text):
        return Checked(value=text)
    if not _FOREIGN_PR_NEW.fullmatch(text):
        return _fail(
            "format",
            _("A permanent residence ID has 15 characters (3 letters, 12 digits) or 18 starting with 9."),
        )
    try:
        born = date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        return _fail(
            "birth_date", _("The birth date inside the ID number (digits 7 to 14) is not a real date.")
        )
    if born > (today or timezone.localdate()):
        return _fail("birth_date_future", _("The birth date inside the ID number is in the future."))
    if text[17] != resident_id_check_character(text[:17]):
        return _fail(
            "checksum",
            _("The check character (the last one) does not match: look for a mistyped digit."),
        )
    return Checked(value=text, birth_date=born)


def check_id_number(id_type: str, value: object, *, today: date | None = None) -> Checked:
    """Validate ``value`` as a number of ``id_type`` (an ``IdType`` value)."""
    if id_type == IdType.RESIDENT_ID:
        return check_resident_id(value, today=today)
    if id_type == IdType.USCC:
        return check_uscc(value)
    if id_type == IdType.PASSPORT:
        return check_passport(value)
    if id_type == IdType.HK_MACAU_PERMIT:
        return check_hk_macau_permit(value)
    if id_type == IdType.TAIWAN_PERMIT:
        return check_taiwan_permit(value)
    if id_type == IdType.FOREIGN_PERMANENT_RESIDENCE:
        return check_foreign_permanent_residence(value, today=today)
    return _fail("id_type", _("Choose an ID type from the list."))


# ---------------------------------------------------------------- mobile

_MAINLAND_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
_PHONE_CHARS = re.compile(r"\+?[0-9]+")


def check_mobile(value: object) -> Checked:
    """Mainland numbers (``+86``/``0086`` stripped, ``1[3-9]`` + 9 digits) and other countries'
    numbers in E.164, stored as E.164 (``+8613800138000``)."""
    text = _text(value)
    if text is None:
        return _fail("format", _("Enter a mobile number."))
    text = _PHONE_SEPARATORS.sub("", text)
    if not text:
        return _fail("required", _("Enter a mobile number."))
    if _too_long(text) or not _PHONE_CHARS.fullmatch(text):
        return _fail("format", _("A mobile number has digits only, optionally after a leading +."))
    if text.startswith("00"):
        text = "+" + text[2:]
    national: str | None = None
    if text.startswith("+86"):
        national = text[3:]
    elif not text.startswith("+"):
        national = text[2:] if len(text) == 13 and text.startswith("86") else text
    if national is not None:
        if _MAINLAND_MOBILE.fullmatch(national):
            return Checked(value="+86" + national)
        return _fail(
            "format",
            _("A mainland mobile number has 11 digits starting with 13 to 19; other countries start with +."),
        )
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return _fail("format", _("This is not a valid international phone number."))
    if not phonenumbers.is_valid_number(parsed):
        return _fail("format", _("This is not a valid international phone number."))
    return Checked(value=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


# ---------------------------------------------------------------- bank card

Origin = Literal["staff", "feed"]
_CARD_SEPARATORS = re.compile(r"[\s\-]")


def check_bank_card(value: object, *, origin: Origin = "staff") -> Checked:
    """16 to 19 digits with a Luhn check. A Luhn failure is an error when staff typed the number
    and a warning when a core-system feed sent it (some legacy cards fail the check)."""
    text = _text(value)
    if text is None:
        return _fail("format", _("Enter the card number."))
    text = _CARD_SEPARATORS.sub("", text)
    if not text:
        return _fail("required", _("Enter the card number."))
    if not (text.isascii() and text.isdigit()) or not 16 <= len(text) <= 19:
        return _fail("format", _("A bank card number has 16 to 19 digits."))
    if luhn.is_valid(text):
        return Checked(value=text)
    finding = Finding("luhn", _("The card number fails its check digit (Luhn): look for a mistyped digit."))
    if origin == "feed":
        return Checked(value=text, warnings=(finding,))
    return Checked(error=finding)


# ---------------------------------------------------------------- e-mail

_email_validator = EmailValidator()


def check_email(value: object) -> Checked:
    text = _text(value)
    if text is None or len(text or "") > 254:
        return _fail("format", _("Enter a valid e-mail address."))
    if not text:
        return _fail("required", _("Enter an e-mail address."))
    try:
        _email_validator(text)
    except ValidationError:
        return _fail("format", _("Enter a valid e-mail address."))
    local, _sep, domain = text.rpartition("@")
    return Checked(value=f"{local}@{domain.lower()}")


# ID types per kind of customer: individuals carry personal documents, corporates a USCC.
INDIVIDUAL_ID_TYPES = (
    IdType.RESIDENT_ID,
    IdType.PASSPORT,
    IdType.HK_MACAU_PERMIT,
    IdType.TAIWAN_PERMIT,
    IdType.FOREIGN_PERMANENT_RESIDENCE,
)
CORPORATE_ID_TYPES = (IdType.USCC,)
