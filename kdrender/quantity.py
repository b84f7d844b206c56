"""Kubernetes quantities as apimachinery's ``resource.Quantity`` reads and writes them.

Reading (``ParseQuantity``): the suffix gives the format, DecimalSI (none, ``n u m k M G T P E``),
DecimalExponent (``e``/``E`` and an exponent) or BinarySI (``Ki Mi Gi Ti Pi Ei``).  A value is
rounded up (away from zero) to a whole number of nano-units; only a BinarySI value is capped at
2^63-1, and a BinarySI value below 1 becomes DecimalSI.  Writing (``String()``, canonical form): the
number with no fraction and the largest exact unit of its format: BinarySI falls back to DecimalSI
below 1024 or when the value is not a whole number; decimal exponents are multiples of 3 (``m``
below 1, ``1.5`` is ``1500m``, ``1e4`` is ``10e3``).  A DecimalSI exponent beyond 18 has no suffix,
and Go writes none (``1000E`` is written ``1``).

kdrender writes every quantity it renders as the API server stores it (``canonical``; values of
a ResourceList, i.e. requests, limits and claim sizes, rounded up to milli-units first, as the API
server's defaulting does): what a bundle holds is what the cluster stores, so Argo CD never sees a
StatefulSet drift.  The rules refuse (``beyond``) what no node can have: more than 2^63-1 in the
unit the scheduler counts (millicores for cpu, bytes for memory and storage, whole units for
extended resources).  Nothing is expanded digit by digit: an exponent beyond 32 bits is not a
quantity, and ``1e999999999`` (which costs the API server minutes) is a short Decimal here.
"""

from __future__ import annotations

import math
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, ROUND_UP, Context, Decimal, InvalidOperation
from functools import lru_cache

from .lazyre import lazy

_QUANTITY = lazy(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))([eE][+-]?[0-9]+|[KMGTPE]i|[numkMGTPE]|)\Z")

DECIMAL_SI, DECIMAL_EXPONENT, BINARY_SI = "DecimalSI", "DecimalExponent", "BinarySI"
_DECIMAL_EXPONENTS = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIXES = {e: s for s, e in _DECIMAL_EXPONENTS.items()}
_BINARY_SUFFIXES = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")
_BINARY_POWERS = {s: 10 * i for i, s in enumerate(_BINARY_SUFFIXES) if s}

INT64_MAX = 2**63 - 1
QUANTITY_MAX = Decimal(INT64_MAX)  # BinarySI values are capped here
_NANO = Decimal("1e-9")
_INT32 = 2**31
# Exact arithmetic: libmpdec sizes results by their digits, not by the precision allowed.
_EXACT = Context(prec=MAX_PREC, rounding=ROUND_UP, Emax=MAX_EMAX, Emin=MIN_EMIN)


class Quantity:
    """A parsed quantity: its ``value`` as the API server holds it (a Decimal) and its ``format``.
    ``capped`` is true when the API server lowered a BinarySI value to 2^63-1."""

    __slots__ = ("value", "format", "capped")

    def __init__(self, value: Decimal, format: str, capped: bool = False):
        self.value, self.format, self.capped = value, format, capped

    def __repr__(self) -> str:
        return f"Quantity({canonical_form(self)!r}, {self.format})"


def _text(value) -> str | None:
    """The quantity text of a scalar: a YAML/JSON number as Go's encoding/json writes it (what
    the API server's reader sees after kubectl converts YAML to JSON)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if value == 0:
            return "0"
        if 1e-6 <= abs(value) < 1e21:  # Go: 'f' format inside this range, exponent outside
            text = format(Decimal(repr(value)), "f")
            return text[:-2] if text.endswith(".0") else text
        return repr(value).replace("e-0", "e-")  # the shortest digits, as Go's: 1e-07 is 1e-7
    return None


def parse(value) -> Quantity | None:
    """``value`` (a string, or a number from YAML/JSON) as a Quantity, or None when it is not one."""
    text = _text(value)
    return None if text is None else _parse_text(text)


@lru_cache(maxsize=4096)  # thousands of clusters repeat the same few quantities ("2", "4Gi")
def _parse_text(text: str) -> Quantity | None:
    m = _QUANTITY.match(text.strip())
    if not m:
        return None
    number, suffix = m.groups()
    try:
        amount = Decimal(number)  # exact, whatever its length
    except InvalidOperation:  # pragma: no cover - the pattern only lets numbers through
        return None
    ctx = _EXACT
    if suffix in _BINARY_POWERS:
        fmt = BINARY_SI
        amount = ctx.multiply(amount, Decimal(2 ** _BINARY_POWERS[suffix]))
    elif suffix not in _DECIMAL_EXPONENTS:  # e/E and an exponent ("E" alone is exa)
        exponent = int(suffix[1:])
        if not -_INT32 <= exponent < _INT32:
            return None  # Go keeps an int32 exponent: beyond it, the API server reads another number
        fmt = DECIMAL_EXPONENT
        amount = amount.scaleb(exponent, ctx)
    else:
        fmt = DECIMAL_SI
        amount = amount.scaleb(_DECIMAL_EXPONENTS[suffix], ctx)
    if not amount:
        return Quantity(Decimal(0), fmt)
    if amount.as_tuple().exponent < -9:  # rounded up to a whole number of nano-units
        if amount.adjusted() < -9:
            amount = _NANO.copy_sign(amount)
        else:
            amount = amount.quantize(_NANO, rounding=ROUND_UP, context=ctx)
    capped = False
    if fmt == BINARY_SI:
        if amount.copy_abs() > QUANTITY_MAX:
            amount, capped = QUANTITY_MAX.copy_sign(amount), True
        if amount.copy_abs() < 1:
            fmt = DECIMAL_SI
    return Quantity(amount, fmt, capped)


def canonical_form(q: Quantity) -> str:
    """Go's ``Quantity.String()`` of a freshly computed value (``CanonicalizeBytes``)."""
    amount, fmt = q.value, q.format
    if not amount:
        return "0"
    if fmt == BINARY_SI:
        if -1024 < amount < 1024 or amount != amount.to_integral_value(rounding=ROUND_UP):
            fmt = DECIMAL_SI  # below 1Ki, or not a whole number: written in decimal, exactly
        else:
            number, power = abs(int(amount)), 0
            while number >= 1024 and number % 1024 == 0:
                number, power = number // 1024, power + 1
            return ("-" if amount < 0 else "") + f"{number}{_BINARY_SUFFIXES[power]}"
    sign, digits, exponent = amount.as_tuple()
    text = "".join(map(str, digits))
    stripped = text.rstrip("0")
    exponent += len(text) - len(stripped)
    shift = exponent % 3  # down to a multiple of 3
    mantissa = stripped + "0" * shift
    exponent -= shift
    if fmt == DECIMAL_EXPONENT:
        suffix = f"e{exponent}" if exponent else ""
    else:
        suffix = _DECIMAL_SUFFIXES.get(exponent, "")  # Go has no suffix beyond E (1000E is written "1")
    return ("-" if sign else "") + mantissa + suffix


_MILLI = Decimal("1e-3")


def canonical(value, resource_list: bool = False) -> str:
    """What the API server stores for the quantity ``value``; the text itself if it is no quantity.

    ``resource_list``: a value of a ResourceList (container ``limits``/``requests``, a claim's
    ``resources.requests``), which the API server's defaulting rounds up to milli-units first
    (``SetDefaults_ResourceList``: ``500u`` is stored ``1m``, ``1e-9`` is ``1e-3``), keeping the format."""
    q = parse(value)
    if q is None:
        return value if isinstance(value, str) else str(value)
    if resource_list and q.value.as_tuple().exponent < -3:
        q = Quantity(q.value.quantize(_MILLI, rounding=ROUND_UP, context=_EXACT), q.format, q.capped)
    return canonical_form(q)


def parse_quantity(value) -> Decimal | None:
    """The value of a Kubernetes quantity as the API server holds it, or None when it is not one."""
    q = parse(value)
    return None if q is None else q.value


def scaled_value(value, scale: int = 0) -> int:
    """Go's ``ScaledValue(scale)``: ceil(value / 10^scale), here kept within int64 (Go overflows);
    0 when ``value`` is not a quantity.  ``quantity_value`` is ``Value()``, scale -3 ``MilliValue()``."""
    q = parse(value)
    if q is None:
        return 0
    amount = q.value.scaleb(-scale, _EXACT)
    if amount.adjusted() > 18:
        return INT64_MAX if amount > 0 else -INT64_MAX - 1
    return max(-INT64_MAX - 1, min(INT64_MAX, math.ceil(amount)))


def quantity_value(value) -> int:
    """Go ``resource.Quantity.Value()``: the value rounded up to an integer."""
    return scaled_value(value, 0)


# The unit the scheduler and kubelet count a resource in: cpu in millicores, memory and storage in
# bytes, anything else in units (extended resources such as nvidia.com/gpu, hugepages-2Mi in bytes).
_BYTES = ("memory", "storage", "ephemeral-storage")
MILLI_MAX = f"{INT64_MAX}m"
LARGEST = {"cpu": (MILLI_MAX, "2^63-1 millicores"), "bytes": (str(INT64_MAX), "2^63-1 bytes"),
           "units": (str(INT64_MAX), "2^63-1")}


def unit(resource: str) -> str:
    """``cpu``, ``bytes`` or ``units``: what Kubernetes counts ``resource`` in."""
    if resource == "cpu":
        return "cpu"
    if resource in _BYTES or resource.startswith("hugepages-"):
        return "bytes"
    return "units"


def extended(resource: str) -> bool:
    """An extended resource (``example.com/foo``, not ``kubernetes.io/``, not ``requests.``):
    Kubernetes counts it in whole units only."""
    return "/" in resource and "kubernetes.io/" not in resource and not resource.startswith("requests.")


def beyond(value, kind: str) -> str | None:
    """Why no node can have the quantity ``value`` counted in ``kind`` (``cpu``, ``bytes`` or
    ``units``), naming the largest value allowed; None when it fits."""
    q = parse(value)
    if q is None:
        return None
    amount = q.value.scaleb(3, _EXACT) if kind == "cpu" else q.value
    if q.capped or amount.copy_abs() > QUANTITY_MAX:  # ceil(|amount|) > 2^63-1
        largest, what = LARGEST[kind]
        return f"{_show(value)} is more than Kubernetes can count: the most is {largest} ({what})"
    return None


def fractional_bytes(value) -> str | None:
    """Why ``value``, counted in bytes, is refused when it is not a whole number of bytes (the API
    server warns "fractional byte value ... is invalid, must be an integer"); None when it is whole."""
    if not not_whole(value):
        return None
    return f"{_show(value)} is not a whole number of bytes (the API server calls it invalid)"


def not_whole(value) -> bool:
    """True when the quantity ``value`` is not a whole number (Go: ``MilliValue() % 1000 != 0``)."""
    q = parse(value)
    return q is not None and q.value != q.value.to_integral_value()


def _show(value) -> str:
    text = value if isinstance(value, str) else _text(value) or str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")
