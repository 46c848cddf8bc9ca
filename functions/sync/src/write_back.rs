//! Consent write-back: mirrors a registered customer's SMS consent state to BigCommerce, so the merchant sees
//! who is subscribed and who unsubscribed in their own control panel (Dotdigital seed).
//!
//! The message only says which customer and phone changed; the state written is always the ledger's current
//! one, so redelivered or out-of-order messages converge on the latest state. Incremental: the customer's
//! attribute and the app's metafield are written only when they differ from what the store holds. Never
//! creates a customer: a deleted customer drops the message with a log line. BigCommerce failures that may
//! pass (429 after retries, 5xx, timeouts) return a retryable error, so SQS delivers the message again.

use crate::{Deps, SyncError};
use shared::bigcommerce::{
    AttributeType, AttributeValueUpsert, BigCommerceError, Customer, NewMetafield, PermissionSet, StoreClient,
};
use shared::write_back::{ATTRIBUTE_NAME, ConsentMirror, METAFIELD_DESCRIPTION, METAFIELD_KEY, METAFIELD_NAMESPACE};
use shared::{Phone, StoreHash};

pub async fn handle(deps: &Deps, store_hash: &StoreHash, customer_id: u64, phone: &Phone) -> Result<(), SyncError> {
    // Boxed: the BigCommerce client's futures are deep, and the sync handler's future holds every kind of
    // message's.
    Box::pin(write_back(deps, store_hash, customer_id, phone)).await
}

async fn write_back(deps: &Deps, store_hash: &StoreHash, customer_id: u64, phone: &Phone) -> Result<(), SyncError> {
    let db = &deps.aws.db;
    let Some(store) = db.get_store(store_hash).await? else {
        tracing::warn!("consent write-back for a store that is not installed here: dropped");
        return Ok(());
    };
    if !store.is_installed() {
        tracing::info!("consent write-back for an uninstalled store: dropped");
        return Ok(());
    }
    let (ledger, contact) = tokio::try_join!(
        db.ledger(store_hash, phone),
        db.contact_by_customer(store_hash, customer_id)
    )?;
    if let Some(contact) = contact.filter(|c| &c.phone != phone) {
        // The customer's number changed since: the write-back for the current number mirrors its state.
        tracing::info!(customer_id, current = %contact.phone, written = %phone, "customer has another number now: dropped");
        return Ok(());
    }
    let mirror = ConsentMirror::of(&ledger);
    let client = deps.bigcommerce.store_client(&store).await?;
    let customer = match client.customer(customer_id).await {
        Ok(customer) => customer,
        Err(error) if error.is_not_found() => {
            tracing::info!(
                customer_id,
                "customer no longer exists in BigCommerce: nothing written back"
            );
            return Ok(());
        }
        Err(error) => return Err(error.into()),
    };
    let metafield = write_metafield(&client, customer_id, &mirror).await;
    let attribute = write_attribute(&client, &customer, &mirror).await;
    for (what, result) in [("metafield", &metafield), ("attribute", &attribute)] {
        match result {
            Ok(written) => tracing::info!(customer_id, what, written, status = ?mirror.status, "consent written back"),
            Err(error) if !error.is_retryable() => {
                // A deleted customer, a store at its 50-attribute limit: retrying cannot help.
                tracing::warn!(customer_id, what, %error, "consent write-back refused by BigCommerce");
            }
            Err(_) => {}
        }
    }
    match (metafield, attribute) {
        (Err(error), _) | (_, Err(error)) if error.is_retryable() => Err(error.into()),
        _ => Ok(()),
    }
}

/// Sets the customer's "SMS marketing" attribute (creating the attribute when the store has none). `Ok(false)`
/// when it already says the same.
async fn write_attribute(
    client: &StoreClient,
    customer: &Customer,
    mirror: &ConsentMirror,
) -> Result<bool, BigCommerceError> {
    let attribute_id = sms_attribute(client).await?;
    let value = mirror.attribute_value();
    let current = customer.attributes.iter().find(|a| a.attribute_id == attribute_id);
    if current.is_some_and(|a| a.value == value) {
        return Ok(false);
    }
    client
        .upsert_attribute_values(&[AttributeValueUpsert {
            attribute_id,
            customer_id: customer.id,
            value,
        }])
        .await?;
    Ok(true)
}

/// The id of the app's attribute, created when missing. A concurrent write-back may create it first: the
/// refusal of a duplicate is followed by one more look.
async fn sms_attribute(client: &StoreClient) -> Result<u64, BigCommerceError> {
    for attempt in 0..2 {
        let attributes = client.customer_attributes().await?;
        if let Some(attribute) = attributes.iter().find(|a| a.name == ATTRIBUTE_NAME) {
            return Ok(attribute.id);
        }
        match client
            .create_customer_attribute(ATTRIBUTE_NAME, AttributeType::String)
            .await
        {
            Ok(created) => return Ok(created.id),
            Err(BigCommerceError::Invalid { .. }) if attempt == 0 => continue,
            Err(error) => return Err(error),
        }
    }
    unreachable!("the second attempt returns")
}

/// Sets the app-only metafield. `Ok(false)` when it already says the same. A concurrent write-back may
/// create it first (409): then it is read again and updated.
async fn write_metafield(
    client: &StoreClient,
    customer_id: u64,
    mirror: &ConsentMirror,
) -> Result<bool, BigCommerceError> {
    let wanted = NewMetafield {
        namespace: METAFIELD_NAMESPACE.to_owned(),
        key: METAFIELD_KEY.to_owned(),
        value: mirror.metafield_value(),
        permission_set: PermissionSet::AppOnly,
        description: METAFIELD_DESCRIPTION.to_owned(),
    };
    for attempt in 0..2 {
        let existing = client
            .customer_metafields(customer_id)
            .await?
            .into_iter()
            .find(|m| m.namespace == METAFIELD_NAMESPACE && m.key == METAFIELD_KEY);
        let written = match existing {
            Some(current) if current.value == wanted.value => return Ok(false),
            Some(current) => client.update_customer_metafield(customer_id, current.id, &wanted).await,
            None => client.create_customer_metafield(customer_id, &wanted).await,
        };
        match written {
            Ok(_) => return Ok(true),
            Err(BigCommerceError::Invalid { status: 409, .. }) if attempt == 0 => continue,
            Err(error) => return Err(error),
        }
    }
    unreachable!("the second attempt returns")
}
