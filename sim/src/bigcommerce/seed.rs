//! Realistic bulk customers: deterministic, so a test knows exactly how many have a usable phone.

use super::StoreState;
use super::model::{CustomerAddress, CustomerSeed};

/// What [`super::BigCommerceSim::seed_customers`] created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedSummary {
    pub ids: Vec<u64>,
    /// Customers whose phone is a valid number in their address's country.
    pub with_valid_phone: usize,
    pub without_phone: usize,
    /// Customers with something in the phone field that is not a dialable number.
    pub with_invalid_phone: usize,
}

const FIRST: [&str; 12] = [
    "Olivia", "Liam", "Amelia", "Noah", "Isla", "Jack", "Mia", "Oliver", "Chloe", "Lucas", "Zoe", "Ethan",
];
const LAST: [&str; 10] = [
    "Smith", "Nguyen", "Garcia", "Brown", "Wilson", "Taylor", "Martin", "Lee", "Walker", "Khan",
];

enum PhoneKind {
    Valid,
    Missing,
    Invalid,
}

/// Ten shapes, cycled: real merchants' data mixes formats, countries, blanks and junk. Valid numbers come from
/// ranges libphonenumber accepts (its example numbers with the last digits varied).
fn phone_for(i: usize) -> (String, &'static str, PhoneKind) {
    let n = i % 10_000;
    match i % 10 {
        0 => (format!("+1 201-555-{n:04}"), "US", PhoneKind::Valid),
        1 => (format!("(201) 555-{n:04}"), "US", PhoneKind::Valid),
        2 => (format!("0412 3{:02} {:03}", n % 100, n % 1000), "AU", PhoneKind::Valid),
        3 => (
            format!("+61 412 3{:02} {:03}", n % 100, n % 1000),
            "AU",
            PhoneKind::Valid,
        ),
        4 => (format!("07400 1{:05}", n), "GB", PhoneKind::Valid),
        5 => (String::new(), "US", PhoneKind::Missing),
        6 => ("12345".into(), "US", PhoneKind::Invalid),
        7 => (format!("201.555.{n:04}"), "US", PhoneKind::Valid),
        8 => (format!("+1-506-234-{n:04}"), "CA", PhoneKind::Valid),
        _ => ("n/a".into(), "GB", PhoneKind::Invalid),
    }
}

fn country_name(code: &str) -> &'static str {
    match code {
        "US" => "United States",
        "AU" => "Australia",
        "GB" => "United Kingdom",
        "CA" => "Canada",
        _ => "",
    }
}

pub(crate) fn seed_customers(store: &mut StoreState, n: usize) -> SeedSummary {
    let mut groups: Vec<u64> = vec![0];
    groups.extend(store.groups.keys().copied());
    let mut summary = SeedSummary::default();
    for i in 0..n {
        let first = FIRST[i % FIRST.len()];
        let last = LAST[(i / FIRST.len()) % LAST.len()];
        let (phone, country, kind) = phone_for(i);
        match kind {
            PhoneKind::Valid => summary.with_valid_phone += 1,
            PhoneKind::Missing => summary.without_phone += 1,
            PhoneKind::Invalid => summary.with_invalid_phone += 1,
        }
        let address = CustomerAddress {
            first_name: first.into(),
            last_name: last.into(),
            address1: format!("{} Market Street", 10 + i % 900),
            city: "Springfield".into(),
            state_or_province: String::new(),
            postal_code: format!("{:05}", 10_000 + i % 89_999),
            country: country_name(country).into(),
            country_code: country.into(),
            phone: phone.clone(),
            ..CustomerAddress::default()
        };
        let seed = CustomerSeed {
            email: format!("{}.{}.{i}@example.com", first.to_lowercase(), last.to_lowercase()),
            first_name: first.into(),
            last_name: last.into(),
            phone,
            notes: if i % 7 == 0 {
                "Wholesale enquiry".into()
            } else {
                String::new()
            },
            customer_group_id: groups[i % groups.len()],
            accepts_product_review_abandoned_cart_emails: i % 3 == 0,
            addresses: vec![address],
            ..CustomerSeed::default()
        };
        summary.ids.push(store.new_customer(seed));
    }
    summary
}
