//! The checkout consent script in the store's Scripts API: installed for the SMS-checkbox option, removed for
//! the others. `kind: src` with our SRI hash (PCI DSS 4.0 §6.4.3 wants one on every checkout script),
//! `auto_uninstall` (gone with the app), `consent_category: essential` (a script left `unknown` does not load
//! while the cookie banner is on, and the checkbox is how shoppers give consent), footer, deferred, checkout
//! only. The merchant can delete it in Script Manager; loading the app puts it back, and a new release of the
//! script (a new hash) updates it.

use shared::StoreHash;
use shared::bigcommerce::{
    BigCommerceError, ConsentCategory, LoadMethod, NewScript, Script, ScriptKind, ScriptLocation, ScriptVisibility,
    StoreClient,
};
use shared::config::AppUrl;

/// The name our script has in the merchant's Script Manager.
pub const SCRIPT_NAME: &str = "SMS marketing consent (checkout)";

/// What [`ensure_script`] or [`remove_script`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptChange {
    Installed,
    /// It existed with another source, hash or placement and was brought up to date.
    Updated,
    Unchanged,
    Removed,
    /// There was nothing to remove.
    Absent,
}

/// The script as it must be for `store`.
pub fn desired(app_url: &AppUrl, store: &StoreHash) -> NewScript {
    NewScript {
        name: SCRIPT_NAME.to_owned(),
        description: "Adds an unchecked SMS marketing consent checkbox, linking your Terms and Privacy Policy, to \
                      checkout."
            .to_owned(),
        src: shared::checkout_script::src(app_url, store),
        kind: ScriptKind::Src,
        load_method: LoadMethod::Defer,
        location: ScriptLocation::Footer,
        visibility: ScriptVisibility::Checkout,
        auto_uninstall: true,
        consent_category: ConsentCategory::Essential,
        enabled: true,
        channel_id: 1,
        integrity_hashes: vec![shared::checkout_script::sri_hash()],
    }
}

/// Ours: served from our `/consent.js` (any version), or carrying our name. BigCommerce only lists this app's
/// scripts, so another app's script is never touched.
fn is_ours(script: &Script, app_url: &AppUrl) -> bool {
    let prefix = app_url.join("/consent.js");
    script.name == SCRIPT_NAME || script.src.as_deref().is_some_and(|src| src.starts_with(&prefix))
}

fn up_to_date(script: &Script, want: &NewScript) -> bool {
    script.src.as_deref() == Some(want.src.as_str())
        && script.kind == Some(want.kind)
        && script.load_method == Some(want.load_method)
        && script.location == Some(want.location)
        && script.visibility == Some(want.visibility)
        && script.auto_uninstall == want.auto_uninstall
        && script.consent_category == Some(want.consent_category)
        && script.enabled == want.enabled
        && script.integrity_hashes == want.integrity_hashes
}

/// Installs the script, or brings ours up to date; a second copy of ours is deleted.
pub async fn ensure_script(
    client: &StoreClient,
    app_url: &AppUrl,
    store: &StoreHash,
) -> Result<ScriptChange, BigCommerceError> {
    let want = desired(app_url, store);
    let scripts = client.scripts().await?;
    let mut ours = scripts.iter().filter(|s| is_ours(s, app_url));
    let Some(first) = ours.next() else {
        client.create_script(&want).await?;
        return Ok(ScriptChange::Installed);
    };
    for duplicate in ours {
        client.delete_script(&duplicate.uuid).await?;
    }
    if up_to_date(first, &want) {
        return Ok(ScriptChange::Unchanged);
    }
    client.update_script(&first.uuid, &want).await?;
    Ok(ScriptChange::Updated)
}

/// Deletes our script (another consent option was chosen).
pub async fn remove_script(client: &StoreClient, app_url: &AppUrl) -> Result<ScriptChange, BigCommerceError> {
    let scripts = client.scripts().await?;
    let mut change = ScriptChange::Absent;
    for script in scripts.iter().filter(|s| is_ours(s, app_url)) {
        match client.delete_script(&script.uuid).await {
            Ok(()) => change = ScriptChange::Removed,
            // Deleted meanwhile (by the merchant, or a concurrent save): the goal is reached.
            Err(error) if error.is_not_found() => {}
            Err(error) => return Err(error),
        }
    }
    Ok(change)
}
