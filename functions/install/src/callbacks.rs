//! `/load`, `/uninstall` and `/remove_user`, each authenticated by its `signed_payload_jwt`. A token that is
//! forged, expired, not issued just now, already used, for another app or not for a store gets 401 and changes
//! nothing; so does a `/load` token issued before the user's removal or the app's last uninstall. Only a token
//! that passes every check learns that the app is not installed on its store (404, nothing changes).

use crate::jwt::{self, JwtError, SignedPayload};
use crate::page;
use crate::{Deps, InstallError, settings};
use chrono::Duration;
use http::StatusCode;
use lambda_http::{Request, RequestExt};
use shared::web::WebResponse;
use tracing::Instrument;

fn verify(deps: &Deps, request: &Request) -> Result<SignedPayload, InstallError> {
    let query = request.query_string_parameters();
    let token = query.first("signed_payload_jwt").unwrap_or_default();
    Ok(jwt::verify(
        token,
        &deps.bigcommerce_config.client_id,
        &deps.bigcommerce_config.client_secret,
        deps.clock.now(),
    )?)
}

/// Spends the token's `jti`: it is remembered until the token expires, so the same token never works twice.
/// Called once every other check has passed, just before the callback acts.
async fn use_once(deps: &Deps, payload: &SignedPayload) -> Result<(), InstallError> {
    let now = deps.clock.now();
    let keep_for = payload.expires_at + Duration::seconds(jwt::LEEWAY_SECONDS) - now;
    if deps.aws.db.first_sighting(&payload.replay_key(), now, keep_for).await? {
        Ok(())
    } else {
        tracing::warn!(user_id = payload.user.id, "callback token refused: already used");
        Err(JwtError::Replayed.into())
    }
}

fn not_installed() -> InstallError {
    InstallError::NotInstalled(
        "The app is not installed on this store. Install it again from the BigCommerce control panel.".into(),
    )
}

/// A user opens the app in the control panel: any user BigCommerce lets open it is authorised, so they are
/// recorded (multi-user apps), get a session, and see the settings page. A token issued before the app's last
/// uninstall or the user's last removal grants nothing: BigCommerce's tokens live a day, and a removed user may
/// have kept the iframe's URL.
pub async fn load(deps: &Deps, request: &Request) -> Result<WebResponse, InstallError> {
    let payload = verify(deps, request)?;
    async {
        let store = deps
            .aws
            .db
            .get_store(&payload.store_hash)
            .await?
            .filter(|s| s.is_installed())
            .ok_or_else(not_installed)?;
        let removed_at = deps
            .aws
            .db
            .user_access(&store.store_hash, payload.user.id)
            .await?
            .and_then(|access| access.removed_at);
        if [store.uninstalled_at, removed_at]
            .into_iter()
            .flatten()
            .any(|ended| payload.predates(ended))
        {
            tracing::warn!(
                user_id = payload.user.id,
                "callback token refused: issued before access ended"
            );
            return Err(JwtError::Superseded.into());
        }
        use_once(deps, &payload).await?;
        // The same check, in the write: a `/remove_user` that lands meanwhile wins.
        if !deps
            .aws
            .db
            .grant_user(&store.store_hash, &payload.user, payload.revocations_from())
            .await?
        {
            tracing::warn!(
                user_id = payload.user.id,
                "callback token refused: user removed meanwhile"
            );
            return Err(JwtError::Superseded.into());
        }
        tracing::info!(user_id = payload.user.id, "app loaded");
        settings::open(deps, &store, &payload.user, Vec::new(), settings::Opened::Load).await
    }
    .instrument(shared::logging::store_span(&payload.store_hash))
    .await
}

/// The merchant uninstalled the app: the store is marked at once, so nothing more is sent for it (the send
/// function checks the mark before every message). Contacts and the consent ledger are kept: they are the
/// evidence for messages already sent.
pub async fn uninstall(deps: &Deps, request: &Request) -> Result<WebResponse, InstallError> {
    let payload = verify(deps, request)?;
    async {
        if deps.aws.db.get_store(&payload.store_hash).await?.is_none() {
            return Err(not_installed());
        }
        use_once(deps, &payload).await?;
        deps.aws
            .db
            .mark_uninstalled(&payload.store_hash, deps.clock.now())
            .await?;
        tracing::info!(user_id = payload.user.id, "app uninstalled; sending stopped");
        Ok(page::message(
            StatusCode::OK,
            "Uninstalled",
            "The app is uninstalled from this store. No more messages will be sent; consent records are kept.",
        ))
    }
    .instrument(shared::logging::store_span(&payload.store_hash))
    .await
}

/// The store owner removed a user's access to the app: their record is marked, which ends every session they
/// hold (sessions are checked against the record on each request); the instant is kept, so no token or session
/// issued before it restores them.
pub async fn remove_user(deps: &Deps, request: &Request) -> Result<WebResponse, InstallError> {
    let payload = verify(deps, request)?;
    async {
        if deps.aws.db.get_store(&payload.store_hash).await?.is_none() {
            return Err(not_installed());
        }
        use_once(deps, &payload).await?;
        deps.aws
            .db
            .remove_user(&payload.store_hash, &payload.user, deps.clock.now())
            .await?;
        tracing::info!(user_id = payload.user.id, "user removed");
        Ok(page::message(
            StatusCode::OK,
            "User removed",
            "The user no longer has access to the app.",
        ))
    }
    .instrument(shared::logging::store_span(&payload.store_hash))
    .await
}
