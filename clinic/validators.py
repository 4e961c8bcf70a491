"""Validators for codes and contact details that several apps store (currency, phone, birth date).

Each raises Django's ``ValidationError`` with a stable code, so model fields, admin forms and DRF
serializers (which copy model validators) all refuse the same values with the same message.
"""

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError

# ISO 4217 currencies in circulation (funds, precious metals and test codes left out: nobody
# pays for a physiotherapy visit in troy ounces of gold).
CURRENCY_CODES = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR
    FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IQD IRR ISK JMD
    JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK
    MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN
    PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL
    THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG
    XOF XPF YER ZAR ZMW ZWG ZWL
    """.split()  # noqa: SIM905 - one list, read as the standard prints it
)


def validate_currency(value: str) -> None:
    """An ISO 4217 code such as CAD or USD (upper case, as the standard writes it)."""
    if value not in CURRENCY_CODES:
        raise ValidationError(
            "Use an ISO 4217 currency code such as CAD, USD or EUR.", code="invalid_currency"
        )


# E.164 allows at most 15 digits; fewer than 7 cannot reach anyone. People type spaces, dots,
# dashes and brackets, and an extension after "x" or "ext".
_PHONE = re.compile(r"^\+?[0-9]{7,15}((x|ext\.?)[0-9]{1,6})?$")
_PHONE_SEPARATORS = re.compile(r"[\s().-]")


def validate_phone(value: str) -> None:
    """An E.164-like number: optional +, 7 to 15 digits, separators and an extension allowed."""
    if not _PHONE.match(_PHONE_SEPARATORS.sub("", value).lower()):
        raise ValidationError(
            "Use a phone number of 7 to 15 digits, e.g. +1 905 555 0100 (an extension may "
            "follow as x123).",
            code="invalid_phone",
        )


# The oldest person ever documented lived 122 years; an older birth date is a typo.
MAX_AGE_YEARS = 130
# Where the date changes first: a baby born today anywhere on Earth is born "today" here.
_EARLIEST_ZONE = ZoneInfo("Etc/GMT-14")


def validate_date_of_birth(value: date) -> None:
    """Not in the future (in any time zone) and not more than 130 years ago."""
    today = datetime.now(_EARLIEST_ZONE).date()
    if value > today:
        raise ValidationError("A date of birth cannot be in the future.", code="future")
    if value < today - timedelta(days=round(MAX_AGE_YEARS * 365.25)):
        raise ValidationError(
            f"A date of birth more than {MAX_AGE_YEARS} years ago is not plausible.",
            code="too_old",
        )
