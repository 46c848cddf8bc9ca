//! Who the recipient is, legally and on the clock: the market whose consent rules apply, the US state or
//! Canadian province whose mini-TCPA rules apply, and the IANA time zones the recipient may be in (quiet
//! hours are in the recipient's local time, docs/consent-rules.md R-ST-1).
//!
//! Resolution order (docs/consent-rules.md R-ST-1):
//! 1. the number itself: its country decides the market; a NANP (+1) area code gives the state/province and
//!    its zones (table generated from libphonenumber by `xtask/scripts/gen_nanp_regions.py`);
//! 2. else the billing/shipping address state (only an address in the number's own country counts);
//! 3. else the country: every zone of the country.
//!
//! A later source never removes what an earlier one found, it can only add candidates: a 212 (New York)
//! number with a Florida billing address gets both states, so Florida's 8 pm end and 3-per-day cap apply too.
//! That is stricter than "area code wins" and deliberate: mini-TCPA laws protect residents, and the address is
//! evidence of residence. An unknown US state means every state's rules at once (the engine intersects them),
//! which is the "most restrictive" rule of R-ST-1.

use super::nanp_regions::{AREA_CODES, CALLING_CODE_ZONES, SUBDIVISIONS};
use super::text::normalize;
use crate::Phone;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// The data set the NANP area-code table was generated from (`phonenumbers` version), for evidence.
pub const NANP_DATA_SOURCE: &str = super::nanp_regions::SOURCE;

/// The legal market whose consent rules apply to a number (docs/consent-rules.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Market {
    /// The United States and its territories (PR, VI, GU, AS, MP, UM): TCPA, CTIA, state mini-TCPAs.
    Us,
    /// CASL.
    Canada,
    /// Spam Act 2003 (with Christmas and Cocos Islands, which share +61).
    Australia,
    /// Unsolicited Electronic Messages Act 2007: express, inferred or deemed consent.
    NewZealand,
    /// PECR (with Guernsey, Jersey and the Isle of Man, which share +44 and have PECR-like laws).
    UnitedKingdom,
    /// The EU (with its outermost regions) plus Iceland, Liechtenstein and Norway: GDPR + national ePrivacy.
    Eea,
    /// Everywhere else: the merchant's consent option decides.
    Other,
    /// The number's country could not be told: the strictest rules (the US ones) apply.
    Unknown,
}

const US_AND_TERRITORIES: &[&str] = &["US", "PR", "VI", "GU", "AS", "MP", "UM"];
const EEA: &[&str] = &[
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU", "MT",
    "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", // EU 27
    "IS", "LI", "NO", // EEA
    "GP", "GF", "MQ", "RE", "YT", "MF", "AX", // outermost regions and Åland, inside the EU
];

impl Market {
    /// The market of an ISO 3166 alpha-2 country code.
    pub fn of_country(country: &str) -> Self {
        let country = country.trim().to_ascii_uppercase();
        let country = country.as_str();
        if US_AND_TERRITORIES.contains(&country) {
            Self::Us
        } else if country == "CA" {
            Self::Canada
        } else if matches!(country, "AU" | "CX" | "CC") {
            Self::Australia
        } else if country == "NZ" {
            Self::NewZealand
        } else if matches!(country, "GB" | "GG" | "JE" | "IM") {
            Self::UnitedKingdom
        } else if EEA.contains(&country) {
            Self::Eea
        } else {
            Self::Other
        }
    }

    /// How the market reads in an explanation ("a number in Canada").
    pub fn describe(self) -> &'static str {
        match self {
            Self::Us => "the United States",
            Self::Canada => "Canada",
            Self::Australia => "Australia",
            Self::NewZealand => "New Zealand",
            Self::UnitedKingdom => "the United Kingdom",
            Self::Eea => "the EU/EEA",
            Self::Other => "a market without a specific rule",
            Self::Unknown => "an unknown country",
        }
    }
}

/// Where a piece of the recipient's region came from, for explanations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionSource {
    AreaCode,
    Address,
    Country,
    Unknown,
}

/// A billing or shipping address, as far as it locates the recipient.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddressHint<'a> {
    /// ISO 3166 alpha-2 (`"US"`).
    pub country_code: Option<&'a str>,
    /// A code or a name (`"FL"`, `"Florida"`, `"US-FL"`, `"New South Wales"`).
    pub state_or_province: Option<&'a str>,
}

/// The resolved recipient: the input the consent engine needs about where the number is.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipient {
    pub phone: Phone,
    pub market: Market,
    /// ISO 3166 alpha-2 of the number (or of the address when the number's country is unknown).
    pub country: Option<String>,
    /// Candidate states/provinces/territories (`"FL"`, `"ON"`, `"NSW"`, `"PR"`), most likely first. Empty means
    /// unknown; for a US number that means every state's rules apply.
    pub subdivisions: Vec<String>,
    pub subdivision_source: RegionSource,
    /// Every time zone the recipient may be in; a send window must hold in all of them. Empty only when
    /// nothing at all is known, and then nothing timed may be sent.
    pub zones: Vec<Tz>,
    pub zone_source: RegionSource,
}

impl Recipient {
    /// Resolves a number, with the billing and/or shipping addresses known for it (any order, may be empty).
    pub fn resolve(phone: &Phone, addresses: &[AddressHint<'_>]) -> Self {
        let country = phone.country().or_else(|| {
            addresses
                .iter()
                .find_map(|a| a.country_code.map(|c| c.trim().to_ascii_uppercase()))
                .filter(|c| c.len() == 2)
        });
        let market = country.as_deref().map(Market::of_country).unwrap_or(Market::Unknown);

        let mut subdivisions: Vec<String> = Vec::new();
        let mut subdivision_source = RegionSource::Unknown;
        let mut zones: Vec<Tz> = Vec::new();
        let mut zone_source = RegionSource::Unknown;

        if let Some(row) = phone
            .nanp_area_code()
            .and_then(|ac| ac.parse::<u16>().ok())
            .and_then(|ac| {
                AREA_CODES
                    .binary_search_by_key(&ac, |row| row.area_code)
                    .ok()
                    .map(|i| &AREA_CODES[i])
            })
        {
            if !row.subdivisions.is_empty() {
                subdivisions.extend(row.subdivisions.iter().map(|s| (*s).to_owned()));
                subdivision_source = RegionSource::AreaCode;
            }
            if !row.zones.is_empty() {
                add_zones(&mut zones, row.zones);
                zone_source = RegionSource::AreaCode;
            }
        }

        if let Some(country) = country.as_deref() {
            for address in addresses {
                let same_country = address
                    .country_code
                    .is_none_or(|c| c.trim().eq_ignore_ascii_case(country));
                let Some(found) = address
                    .state_or_province
                    .filter(|_| same_country)
                    .and_then(|s| subdivision(country, s))
                else {
                    continue;
                };
                if subdivisions.iter().any(|s| s == found.code) {
                    continue;
                }
                subdivisions.push(found.code.to_owned());
                if subdivision_source == RegionSource::Unknown {
                    subdivision_source = RegionSource::Address;
                }
                add_zones(&mut zones, found.zones);
                if zone_source == RegionSource::Unknown {
                    zone_source = RegionSource::Address;
                }
            }
        }

        if zones.is_empty() {
            // Territories and provinces found without zones (none today), then the whole country.
            for code in &subdivisions {
                if let Some(found) = country.as_deref().and_then(|c| subdivision(c, code)) {
                    add_zones(&mut zones, found.zones);
                }
            }
            if zones.is_empty() {
                zones = country_zones(country.as_deref(), phone.calling_code());
            }
            if !zones.is_empty() {
                zone_source = RegionSource::Country;
            }
        }

        Self {
            phone: phone.clone(),
            market,
            country,
            subdivisions,
            subdivision_source,
            zones,
            zone_source,
        }
    }

    /// The most likely state/province, if any is known.
    pub fn state(&self) -> Option<&str> {
        self.subdivisions.first().map(String::as_str)
    }
}

/// A state, province or territory the resolver knows, with its zones.
struct Found {
    code: &'static str,
    zones: &'static [Tz],
}

/// Australian states and territories (hand-kept: eight well-known entries; the NANP table is generated).
/// NSW includes Broken Hill and Lord Howe Island, WA includes Eucla: candidates are kept, not guessed away.
const AU_STATES: &[(&str, &str, &[Tz])] = &[
    (
        "NSW",
        "New South Wales",
        &[
            Tz::Australia__Sydney,
            Tz::Australia__Broken_Hill,
            Tz::Australia__Lord_Howe,
        ],
    ),
    ("VIC", "Victoria", &[Tz::Australia__Melbourne]),
    ("QLD", "Queensland", &[Tz::Australia__Brisbane]),
    ("SA", "South Australia", &[Tz::Australia__Adelaide]),
    ("WA", "Western Australia", &[Tz::Australia__Perth, Tz::Australia__Eucla]),
    ("TAS", "Tasmania", &[Tz::Australia__Hobart]),
    ("NT", "Northern Territory", &[Tz::Australia__Darwin]),
    ("ACT", "Australian Capital Territory", &[Tz::Australia__Sydney]),
];

/// Reads a state/province code or name for `country`.
fn subdivision(country: &str, input: &str) -> Option<Found> {
    let input = input.trim();
    // "US-FL" (ISO 3166-2) → "FL".
    let input = match input.split_once('-') {
        Some((prefix, rest)) if prefix.eq_ignore_ascii_case(country) => rest,
        _ => input,
    };
    let wanted = normalize(input);
    if wanted.is_empty() {
        return None;
    }
    let country = country.to_ascii_uppercase();
    match country.as_str() {
        "US" | "CA" => SUBDIVISIONS
            .iter()
            .filter(|s| s.country == country)
            .find(|s| {
                s.code.eq_ignore_ascii_case(&wanted)
                    || normalize(s.name) == wanted
                    || (s.code == "DC" && matches!(wanted.as_str(), "washington dc" | "dc"))
            })
            .map(|s| Found {
                code: s.code,
                zones: s.zones,
            }),
        "AU" => AU_STATES
            .iter()
            .find(|(code, name, _)| code.eq_ignore_ascii_case(&wanted) || normalize(name) == wanted)
            .map(|(code, _, zones)| Found { code, zones }),
        // A US territory given as its own code (the area-code table uses the territory as subdivision).
        territory if US_AND_TERRITORIES.contains(&territory) && wanted == territory.to_lowercase() => {
            let zones = AREA_CODES
                .iter()
                .find(|row| row.country == territory)
                .map(|row| row.zones)
                .unwrap_or(&[]);
            let code = US_AND_TERRITORIES.iter().find(|t| **t == territory).copied()?;
            Some(Found { code, zones })
        }
        _ => None,
    }
}

/// Every zone of a country: for the US and Canada the union of their states/provinces (not the whole +1
/// list, which reaches from Guam to Newfoundland), for other NANP countries their area codes, elsewhere the
/// country-level zones of the calling code.
fn country_zones(country: Option<&str>, calling_code: u16) -> Vec<Tz> {
    let mut zones = Vec::new();
    match country {
        Some(c @ ("US" | "CA")) => {
            for s in SUBDIVISIONS.iter().filter(|s| s.country == c) {
                add_zones(&mut zones, s.zones);
            }
        }
        Some(c) if calling_code == 1 => {
            for row in AREA_CODES.iter().filter(|row| row.country == c) {
                add_zones(&mut zones, row.zones);
            }
        }
        _ => {}
    }
    if zones.is_empty()
        && let Ok(i) = CALLING_CODE_ZONES.binary_search_by_key(&calling_code, |(code, _)| *code)
    {
        add_zones(&mut zones, CALLING_CODE_ZONES[i].1);
    }
    zones
}

fn add_zones(into: &mut Vec<Tz>, zones: &[Tz]) {
    for zone in zones {
        if !into.contains(zone) {
            into.push(*zone);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone(input: &str, hint: Option<&str>) -> Phone {
        Phone::parse(input, hint).expect(input)
    }

    fn address<'a>(country: &'a str, state: &'a str) -> AddressHint<'a> {
        AddressHint {
            country_code: Some(country),
            state_or_province: Some(state),
        }
    }

    #[test]
    fn generated_tables_are_sorted_and_complete() {
        assert!(AREA_CODES.windows(2).all(|w| w[0].area_code < w[1].area_code));
        assert!(
            CALLING_CODE_ZONES.windows(2).all(|w| w[0].0 < w[1].0),
            "calling codes must be sorted for binary search"
        );
        // 50 states + DC, 13 provinces and territories.
        assert_eq!(SUBDIVISIONS.iter().filter(|s| s.country == "US").count(), 51);
        assert_eq!(SUBDIVISIONS.iter().filter(|s| s.country == "CA").count(), 13);
        assert!(SUBDIVISIONS.iter().all(|s| !s.zones.is_empty()));
        assert!(NANP_DATA_SOURCE.starts_with("phonenumbers "));
    }

    #[test]
    fn area_code_gives_state_and_zone() {
        let r = Recipient::resolve(&phone("(212) 201-4567", Some("US")), &[]);
        assert_eq!(r.market, Market::Us);
        assert_eq!(r.subdivisions, ["NY"]);
        assert_eq!(r.subdivision_source, RegionSource::AreaCode);
        assert_eq!(r.zones, [Tz::America__New_York]);
        assert_eq!(r.zone_source, RegionSource::AreaCode);

        let toronto = Recipient::resolve(&phone("+1 416 555 0199", None), &[]);
        assert_eq!(toronto.market, Market::Canada);
        assert_eq!(toronto.state(), Some("ON"));
        assert_eq!(toronto.zones, [Tz::America__Toronto]);
    }

    #[test]
    fn ambiguous_area_codes_keep_every_candidate_zone() {
        // 850 is the Florida panhandle: Central west of the Apalachicola, Eastern east of it.
        let r = Recipient::resolve(&phone("+1 850 555 0100", None), &[]);
        assert_eq!(r.state(), Some("FL"));
        assert!(r.zones.contains(&Tz::America__Chicago));
        assert!(r.zones.contains(&Tz::America__New_York));
        // 902 serves two provinces.
        let maritimes = Recipient::resolve(&phone("+1 902 555 0100", None), &[]);
        assert_eq!(maritimes.subdivisions, ["NS", "PE"]);
    }

    #[test]
    fn an_address_in_another_state_adds_candidates_never_removes() {
        let r = Recipient::resolve(&phone("+1 212 201 4567", None), &[address("US", "Florida")]);
        assert_eq!(r.subdivisions, ["NY", "FL"]);
        assert_eq!(r.subdivision_source, RegionSource::AreaCode);
        assert!(r.zones.contains(&Tz::America__New_York));
        assert!(r.zones.contains(&Tz::America__Chicago));
        // The same state twice is one candidate; a foreign address is ignored.
        let same = Recipient::resolve(
            &phone("+1 212 201 4567", None),
            &[address("US", "NY"), address("CA", "Ontario")],
        );
        assert_eq!(same.subdivisions, ["NY"]);
        assert_eq!(same.zones, [Tz::America__New_York]);
    }

    #[test]
    fn address_state_is_used_when_the_number_has_no_area() {
        let r = Recipient::resolve(
            &phone("0412 345 678", Some("AU")),
            &[address("AU", "Western Australia")],
        );
        assert_eq!(r.market, Market::Australia);
        assert_eq!(r.subdivisions, ["WA"]);
        assert_eq!(r.subdivision_source, RegionSource::Address);
        assert_eq!(r.zones, [Tz::Australia__Perth, Tz::Australia__Eucla]);
        assert_eq!(r.zone_source, RegionSource::Address);
        // ISO 3166-2 and names work too.
        assert_eq!(subdivision("US", "US-fl").map(|f| f.code), Some("FL"));
        assert_eq!(subdivision("CA", "Québec").map(|f| f.code), Some("QC"));
        assert!(subdivision("US", "Atlantis").is_none());
    }

    #[test]
    fn country_is_the_last_resort() {
        let au = Recipient::resolve(&phone("0412 345 678", Some("AU")), &[]);
        assert_eq!(au.subdivisions, Vec::<String>::new());
        assert_eq!(au.zone_source, RegionSource::Country);
        assert!(au.zones.contains(&Tz::Australia__Sydney) && au.zones.contains(&Tz::Australia__Perth));

        let uk = Recipient::resolve(&phone("+44 7911 123456", None), &[]);
        assert_eq!(uk.market, Market::UnitedKingdom);
        assert!(uk.zones.contains(&Tz::Europe__London));

        let de = Recipient::resolve(&phone("+49 151 23456789", None), &[]);
        assert_eq!(de.market, Market::Eea);
        assert_eq!(de.zones, [Tz::Europe__Berlin]);

        let nz = Recipient::resolve(&phone("+64 21 123 4567", None), &[]);
        assert_eq!(nz.market, Market::NewZealand);
        assert!(nz.zones.contains(&Tz::Pacific__Auckland));
    }

    #[test]
    fn us_territories_are_us_market_with_their_own_zone() {
        let pr = Recipient::resolve(&phone("+1 787 555 0100", None), &[]);
        assert_eq!(pr.market, Market::Us);
        assert_eq!(pr.subdivisions, ["PR"]);
        assert_eq!(pr.zones, [Tz::America__Puerto_Rico]);
    }

    #[test]
    fn us_country_fallback_is_the_states_not_the_whole_nanp() {
        let zones = country_zones(Some("US"), 1);
        assert!(zones.contains(&Tz::America__New_York) && zones.contains(&Tz::Pacific__Honolulu));
        assert!(!zones.contains(&Tz::Pacific__Guam));
        assert!(!zones.contains(&Tz::America__Jamaica));
    }

    #[test]
    fn markets_of_countries() {
        assert_eq!(Market::of_country("us"), Market::Us);
        assert_eq!(Market::of_country("GU"), Market::Us);
        assert_eq!(Market::of_country("CA"), Market::Canada);
        assert_eq!(Market::of_country("JE"), Market::UnitedKingdom);
        assert_eq!(Market::of_country("NO"), Market::Eea);
        assert_eq!(Market::of_country("RE"), Market::Eea);
        assert_eq!(Market::of_country("CH"), Market::Other);
        assert_eq!(Market::of_country("CX"), Market::Australia);
    }
}
