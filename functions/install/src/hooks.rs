//! Our webhooks on a store: one per scope in [`WEBHOOK_SCOPES`], to `APP_URL` + [`WEBHOOK_PATH`], carrying
//! the store's secret in [`WEBHOOK_SECRET_HEADER`]. Idempotent: run on every install and every load, it creates
//! what is missing, re-enables what BigCommerce deactivated (after 48 hours of failed deliveries), repairs a
//! wrong destination or secret, and removes duplicates, so re-installing never registers a hook twice.

use shared::Secret;
use shared::bigcommerce::{
    BigCommerceError, Hook, HookUpdate, NewHook, StoreClient, WEBHOOK_PATH, WEBHOOK_SCOPES, WEBHOOK_SECRET_HEADER,
};
use shared::config::AppUrl;
use std::collections::BTreeMap;

/// What [`ensure_hooks`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HookChanges {
    pub created: usize,
    /// Deactivated hooks switched back on.
    pub reactivated: usize,
    /// Hooks whose destination or secret header was wrong.
    pub repaired: usize,
    /// Second hooks for a scope we already have.
    pub removed: usize,
}

impl HookChanges {
    pub fn any(&self) -> bool {
        *self != Self::default()
    }
}

/// Makes the store's hooks exactly ours: one active hook per scope, to our receiver, with the store's secret.
pub async fn ensure_hooks(
    client: &StoreClient,
    app_url: &AppUrl,
    webhook_secret: &Secret,
) -> Result<HookChanges, BigCommerceError> {
    let destination = app_url.join(WEBHOOK_PATH);
    let headers: BTreeMap<String, Secret> = [(WEBHOOK_SECRET_HEADER.to_owned(), webhook_secret.clone())].into();
    let existing = client.hooks().await?;
    let mut changes = HookChanges::default();
    for scope in WEBHOOK_SCOPES {
        let mut mine: Vec<&Hook> = existing.iter().filter(|h| h.scope == *scope).collect();
        // Prefer the hook already pointing at us, so a fix changes as little as possible.
        mine.sort_by_key(|h| (h.destination != destination, !h.is_active, h.id));
        let Some((keep, extra)) = mine.split_first() else {
            client
                .create_hook(&NewHook {
                    scope: (*scope).to_owned(),
                    destination: destination.clone(),
                    is_active: true,
                    headers: headers.clone(),
                })
                .await?;
            changes.created += 1;
            continue;
        };
        for duplicate in extra {
            client.delete_hook(duplicate.id).await?;
            changes.removed += 1;
        }
        let right_destination = keep.destination == destination;
        let right_secret = secret_header(keep).is_some_and(|value| webhook_secret.matches(value.expose()));
        if right_destination && right_secret && keep.is_active {
            continue;
        }
        client
            .update_hook(
                keep.id,
                &HookUpdate {
                    destination: (!right_destination).then(|| destination.clone()),
                    is_active: Some(true),
                    headers: (!right_secret).then(|| headers.clone()),
                    ..HookUpdate::default()
                },
            )
            .await?;
        if right_destination && right_secret {
            changes.reactivated += 1;
        } else {
            changes.repaired += 1;
        }
    }
    Ok(changes)
}

/// Header names are case-insensitive; BigCommerce may give them back in another case.
fn secret_header(hook: &Hook) -> Option<&Secret> {
    hook.headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(WEBHOOK_SECRET_HEADER))
        .map(|(_, value)| value)
}
