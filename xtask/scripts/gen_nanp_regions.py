#!/usr/bin/env python3
"""Generates domain/src/consent/nanp_regions.rs from the `phonenumbers` PyPI package.

The consent engine needs, for a North American (+1) number, the US state or Canadian province its area code
belongs to and the IANA time zones it may be in (quiet hours are in the recipient's local time), plus a
country-level fallback of time zones for every calling code. Those tables are not written by hand: this script
reads them from libphonenumber's geocoding and time-zone data as shipped by `phonenumbers`.

Run from the repository root:

    python3 -m venv .tools/venv
    .tools/venv/bin/pip install phonenumbers==9.0.43
    .tools/venv/bin/python xtask/scripts/gen_nanp_regions.py

then `cargo fmt --all` and commit the regenerated file. The Rust build never runs Python.
"""

from __future__ import annotations

import collections
import pathlib
import re
import sys

import phonenumbers
from phonenumbers.geodata import GEOCODE_DATA
from phonenumbers.phonemetadata import PhoneMetadata
from phonenumbers.tzdata import TIMEZONE_DATA

PINNED_VERSION = "9.0.43"
OUT = pathlib.Path(__file__).resolve().parents[2] / "domain" / "src" / "consent" / "nanp_regions.rs"

# USPS codes. The geocoder names states in English; a few of its names differ from the official ones.
US_STATES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
    "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois", "IN": "Indiana",
    "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana", "ME": "Maine", "MD": "Maryland",
    "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota", "MS": "Mississippi", "MO": "Missouri",
    "MT": "Montana", "NE": "Nebraska", "NV": "Nevada", "NH": "New Hampshire", "NJ": "New Jersey",
    "NM": "New Mexico", "NY": "New York", "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio",
    "OK": "Oklahoma", "OR": "Oregon", "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina",
    "SD": "South Dakota", "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont",
    "VA": "Virginia", "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
}
CA_PROVINCES = {
    "AB": "Alberta", "BC": "British Columbia", "MB": "Manitoba", "NB": "New Brunswick",
    "NL": "Newfoundland and Labrador", "NS": "Nova Scotia", "NT": "Northwest Territories",
    "NU": "Nunavut", "ON": "Ontario", "PE": "Prince Edward Island", "QC": "Quebec",
    "SK": "Saskatchewan", "YT": "Yukon",
}
# US territories have their own region codes in libphonenumber; the engine treats them as US (TCPA applies).
US_TERRITORIES = {"PR", "VI", "GU", "AS", "MP"}
# Geocoder spellings that are not the official names.
ALIASES = {
    "Washington State": "WA",
    "Washington D.C.": "DC",
    "British Colombia": "BC",
}


def name_to_codes(name: str, country: str) -> list[str]:
    """Maps one geocoder description ("Florida", "Miami, FL", "Nova Scotia/Prince Edward Island") to codes."""
    table = US_STATES if country == "US" else CA_PROVINCES
    by_name = {v: k for k, v in table.items()}
    if name in ALIASES:
        return [ALIASES[name]]
    m = re.search(r",\s*([A-Z]{2})$", name)
    if m and m.group(1) in table:
        return [m.group(1)]
    codes = [by_name[part.strip()] for part in name.split("/") if part.strip() in by_name]
    return codes if len(codes) == len(name.split("/")) else []


def nanp_country(area_code: str) -> str | None:
    """The region libphonenumber assigns to numbers with this area code (US, CA, PR, JM, ...)."""
    for exchange in range(200, 1000):
        for line in ("0000", "1234", "5555", "7777"):
            number = phonenumbers.parse(f"+1{area_code}{exchange}{line}")
            if phonenumbers.is_valid_number(number):
                return phonenumbers.region_code_for_number(number)
    return None


def rust_tz(name: str) -> str:
    return "Tz::" + name.replace("/", "__").replace("-", "")


def main() -> int:
    if phonenumbers.__version__ != PINNED_VERSION:
        print(f"expected phonenumbers {PINNED_VERSION}, found {phonenumbers.__version__}", file=sys.stderr)
        return 1

    area_codes = sorted({k[1:4] for k in list(GEOCODE_DATA) + list(TIMEZONE_DATA) if k.startswith("1") and len(k) >= 4})
    rows = []
    stray = []
    for ac in area_codes:
        country = nanp_country(ac)
        if country is None:
            continue  # no valid number under this area code (unassigned or reserved)
        zones = sorted({z for k, v in TIMEZONE_DATA.items() if k.startswith("1" + ac) for z in v})
        subdivisions: list[str] = []
        if country in ("US", "CA"):
            # Area codes lie within one state or province (902 and 867 span several provinces and say so in
            # their name). The area-code-level description decides; city-level rows that name another state
            # are rate-centre noise and are reported, not used.
            top = GEOCODE_DATA.get("1" + ac, {}).get("en")
            if top:
                subdivisions = name_to_codes(top, country)
            if not subdivisions:
                counts = collections.Counter(
                    tuple(name_to_codes(v.get("en", ""), country))
                    for k, v in GEOCODE_DATA.items()
                    if k.startswith("1" + ac)
                )
                counts.pop((), None)
                if counts:
                    subdivisions = list(counts.most_common(1)[0][0])
            others = {
                c
                for k, v in GEOCODE_DATA.items()
                if k.startswith("1" + ac)
                for c in name_to_codes(v.get("en", ""), country)
            } - set(subdivisions)
            if others:
                stray.append(f"{ac} {subdivisions} (city rows also name {sorted(others)})")
        elif country in US_TERRITORIES:
            subdivisions = [country]
        rows.append((int(ac), country, subdivisions, zones))

    subdivision_zones: dict[tuple[str, str], set[str]] = collections.defaultdict(set)
    for _, country, subdivisions, zones in rows:
        if country in ("US", "CA"):
            for code in subdivisions:
                subdivision_zones[(country, code)].update(zones)

    calling_codes = sorted(
        (int(k), sorted(v)) for k, v in TIMEZONE_DATA.items() if k.isdigit() and len(k) <= 3
        and phonenumbers.region_codes_for_country_code(int(k))
    )

    out = []
    w = out.append
    w("// @generated by xtask/scripts/gen_nanp_regions.py from the `phonenumbers` PyPI package")
    w(f"// {PINNED_VERSION} (libphonenumber geocoding and time-zone data). Do not edit by hand. To regenerate:")
    w("//     python3 -m venv .tools/venv && .tools/venv/bin/pip install phonenumbers==" + PINNED_VERSION)
    w("//     .tools/venv/bin/python xtask/scripts/gen_nanp_regions.py && cargo fmt --all")
    w("")
    w("use chrono_tz::Tz;")
    w("")
    w("/// The data set the tables below were generated from.")
    w(f'pub(crate) const SOURCE: &str = "phonenumbers {PINNED_VERSION}";')
    w("")
    w("/// One NANP area code: the region libphonenumber assigns to it, the state/province (or US territory)")
    w("/// it serves, and every time zone its numbers may be in.")
    w("#[derive(Debug)]")
    w("pub(crate) struct AreaCode {")
    w("    pub area_code: u16,")
    w("    pub country: &'static str,")
    w("    pub subdivisions: &'static [&'static str],")
    w("    pub zones: &'static [Tz],")
    w("}")
    w("")
    w("/// Sorted by area code (binary search).")
    w("pub(crate) static AREA_CODES: &[AreaCode] = &[")
    for ac, country, subdivisions, zones in rows:
        subs = ", ".join(f'"{s}"' for s in subdivisions)
        tzs = ", ".join(rust_tz(z) for z in zones)
        w(f'    AreaCode {{ area_code: {ac}, country: "{country}", subdivisions: &[{subs}], zones: &[{tzs}] }},')
    w("];")
    w("")
    w("/// A US state (with DC) or Canadian province: its code, its name, and the union of its area codes' zones.")
    w("#[derive(Debug)]")
    w("pub(crate) struct Subdivision {")
    w("    pub country: &'static str,")
    w("    pub code: &'static str,")
    w("    pub name: &'static str,")
    w("    pub zones: &'static [Tz],")
    w("}")
    w("")
    w("pub(crate) static SUBDIVISIONS: &[Subdivision] = &[")
    for country, table in (("US", US_STATES), ("CA", CA_PROVINCES)):
        for code, name in sorted(table.items()):
            zones = sorted(subdivision_zones.get((country, code), set()))
            if not zones:
                print(f"no zones for {country}-{code}", file=sys.stderr)
                return 1
            tzs = ", ".join(rust_tz(z) for z in zones)
            w(f'    Subdivision {{ country: "{country}", code: "{code}", name: "{name}", zones: &[{tzs}] }},')
    w("];")
    w("")
    w("/// Country-level time zones per calling code (what libphonenumber answers for a non-geographic number,")
    w("/// such as a mobile). Sorted by calling code.")
    w("pub(crate) static CALLING_CODE_ZONES: &[(u16, &[Tz])] = &[")
    for code, zones in calling_codes:
        tzs = ", ".join(rust_tz(z) for z in zones)
        w(f"    ({code}, &[{tzs}]),")
    w("];")
    OUT.write_text("\n".join(out) + "\n")
    print(f"wrote {OUT} ({len(rows)} area codes, {len(calling_codes)} calling codes)")
    for line in stray:
        print(f"note: area code {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
