"""Money, one way: the store keeps nano-dollars (billionths of a US dollar, whole numbers, so sums
in SQL are exact); a figure becomes a Decimal of dollars only to be shown, and is shown by the
functions here."""

from __future__ import annotations

from decimal import Decimal

NANO_PER_USD = 10**9
NANO = Decimal(NANO_PER_USD)
_ONE_NANO_USD = Decimal(1) / NANO


def dollars(nano: int) -> Decimal:
    """Nano-dollars as exact dollars."""
    return Decimal(nano) / NANO


def nano_of(usd: float) -> int:
    """Dollars (a user's figure, e.g. a budget) as whole nano-dollars."""
    return round(usd * NANO_PER_USD)


def money(amount: Decimal | int) -> str:
    """Dollars to a hundredth of a cent (small jobs cost fractions of a cent), with thousands
    separators: ``$1,234.5678``, ``-$0.0012``. An int is read as nano-dollars."""
    value = dollars(amount) if isinstance(amount, int) else amount
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.4f}"


def cents(amount: Decimal | int) -> str:
    """Dollars to the cent, for amounts people set (a monthly cap): ``$1,250.50``, ``-$4.00``.
    An int is read as nano-dollars."""
    value = dollars(amount) if isinstance(amount, int) else amount
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.2f}"


def exact(amount: Decimal | int) -> str:
    """Dollars to the nano-dollar the ledger keeps, never in exponent notation (for JSON and
    CSV, where a program reads the figure). An int is read as nano-dollars."""
    value = dollars(amount) if isinstance(amount, int) else amount
    return format(value.quantize(_ONE_NANO_USD), "f")


def share(value: float | None) -> str:
    """A part of a whole as a percentage, ``n/a`` when there is no whole."""
    return "n/a" if value is None else f"{value:.1%}"
