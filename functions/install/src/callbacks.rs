//! `/load`, `/uninstall` and `/remove_user`, each authenticated by its `signed_payload_jwt`. A token that is
//! forged, expired, for another app or not for a store gets 401 and changes nothing.

use crate::jwt::{self, SignedPayload};
use crate::page;
use crate::{Deps, InstallError, settings};
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

/// A user opens the app in the control panel: any user BigCommerce lets open it is authorised, so they are
/// recorded (multi-user apps), get a session, and see the settings page.
pub async fn load(deps: &Deps, request: &Request) -> Result<WebResponse, InstallError> {
    let payload = verify(deps, request)?;
    async {
        let store = deps
            .aws
            .db
            .get_store(&payload.store_hash)
            .await?
            .filter(|s| s.is_installed())
            .ok_or_else(|| {
                InstallError::NotInstalled(
                    "The app is not installed on this store. Install it again from the BigCommerce control panel."
                        .into(),
                )
            })?;
        deps.aws.db.put_user(&store.store_hash, &payload.user).await?;
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
            return Err(InstallError::NotInstalled("This store is not known to the app.".into()));
        }
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

/// The store owner removed a user's access to the app: their record goes, and with it every session they
/// hold (sessions are checked against the record on each request).
pub async fn remove_user(deps: &Deps, request: &Request) -> Result<WebResponse, InstallError> {
    let payload = verify(deps, request)?;
    async {
        deps.aws.db.remove_user(&payload.store_hash, payload.user.id).await?;
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
