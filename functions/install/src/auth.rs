//! `GET /auth`: the merchant accepted the app. Exchange the code, check every scope we need was granted (else
//! store nothing and say which are missing), save the store (keeping its webhook secret and settings on a
//! re-install), record the installing user, register webhooks, and open the setup page with a session.

use crate::page::{self, Notice};
use crate::{Deps, InstallError, settings};
use http::StatusCode;
use lambda_http::{Request, RequestExt};
use shared::bigcommerce::{BigCommerceError, TokenGrant};
use shared::model::{MerchantUser, Store, StoreStatus};
use shared::pages::html;
use shared::web::WebResponse;
use shared::{Secret, StoreHash};
use tracing::Instrument;

/// An OAuth scope the app needs, and what for. `accepted` lists the grants that satisfy it (a modify scope
/// covers its read-only form; the checkout scope is spelled two ways in BigCommerce's own documents).
#[derive(Debug, Clone, Copy)]
pub struct RequiredScope {
    pub name: &'static str,
    pub purpose: &'static str,
    pub accepted: &'static [&'static str],
}

/// Every scope the app profile requests (docs/bigcommerce.md). Webhooks need none.
pub const REQUIRED_SCOPES: &[RequiredScope] = &[
    RequiredScope {
        name: "store_v2_customers",
        purpose: "Customers: read customers, groups and subscribers; write consent back to registered customers",
        accepted: &["store_v2_customers"],
    },
    RequiredScope {
        name: "store_v2_orders_read_only",
        purpose: "Orders (read-only): credit recovered orders to reminders",
        accepted: &["store_v2_orders_read_only", "store_v2_orders"],
    },
    RequiredScope {
        name: "store_cart",
        purpose: "Carts: read abandoned carts and re-create them from recovery links",
        accepted: &["store_cart"],
    },
    RequiredScope {
        name: "store_checkout_read_only",
        purpose: "Checkouts (read-only): the billing phone of a checkout",
        accepted: &[
            "store_checkout_read_only",
            "store_checkout",
            "store_checkouts_read_only",
            "store_checkouts",
        ],
    },
    RequiredScope {
        name: "store_content_checkout",
        purpose: "Checkout content: add the SMS consent checkbox to checkout",
        accepted: &["store_content_checkout"],
    },
    RequiredScope {
        name: "store_v2_information_read_only",
        purpose: "Information & settings (read-only): store details and the Require Consent setting",
        accepted: &["store_v2_information_read_only", "store_v2_information"],
    },
];

/// The required scopes `granted` lacks.
pub fn missing_scopes(granted: &[String]) -> Vec<&'static RequiredScope> {
    REQUIRED_SCOPES
        .iter()
        .filter(|required| !required.accepted.iter().any(|a| granted.iter().any(|g| g == a)))
        .collect()
}

pub async fn install(deps: &Deps, request: &Request) -> Result<WebResponse, InstallError> {
    let query = request.query_string_parameters();
    let missing: Vec<&str> = ["code", "scope", "context"]
        .into_iter()
        .filter(|name| query.first(name).is_none_or(|v| v.trim().is_empty()))
        .collect();
    if !missing.is_empty() {
        return Err(InstallError::BadRequest(format!(
            "The install link is incomplete: missing {}. Start the install again from the BigCommerce control panel.",
            missing.join(", ")
        )));
    }
    let (code, scope, context) = (
        query.first("code").unwrap_or_default(),
        query.first("scope").unwrap_or_default(),
        query.first("context").unwrap_or_default(),
    );
    let store_hash = StoreHash::from_context(context)
        .map_err(|_| InstallError::BadRequest("The install link does not name a BigCommerce store.".into()))?;
    let span = shared::logging::store_span(&store_hash);
    async {
        let grant = match deps
            .bigcommerce
            .exchange_code(code, scope, context, &deps.app_url.join("/auth"))
            .await
        {
            Ok(grant) => grant,
            Err(BigCommerceError::Invalid { .. } | BigCommerceError::Unauthorized) => {
                return Err(InstallError::BadRequest(
                    "This install link has expired or was already used. Start the install again from the \
                     BigCommerce control panel."
                        .into(),
                ));
            }
            Err(error) => return Err(error.into()),
        };
        if grant.store_hash != store_hash {
            return Err(InstallError::BadRequest(
                "BigCommerce granted access to another store than the install link names.".into(),
            ));
        }
        let missing = missing_scopes(&grant.scopes);
        if !missing.is_empty() {
            tracing::warn!(missing = missing.len(), "install refused: scopes missing");
            return Ok(missing_scopes_page(&store_hash, &missing));
        }
        let store = save_store(deps, grant.clone()).await?;
        let user = MerchantUser {
            id: grant.user.id,
            email: grant.user.email.clone(),
        };
        deps.aws.db.put_user(&store.store_hash, &user).await?;
        tracing::info!(user_id = user.id, "app installed");
        let notices = vec![Notice::success(
            "The app is installed. Choose how consent is obtained, then Connect.",
        )];
        settings::open(deps, &store, &user, notices, settings::Opened::Install).await
    }
    .instrument(span)
    .await
}

/// Saves the store. A re-install keeps the webhook secret (the hooks already carry it) and the settings in
/// force (the merchant's choice stands until they change it).
async fn save_store(deps: &Deps, grant: TokenGrant) -> Result<Store, InstallError> {
    let now = deps.clock.now();
    let previous = deps.aws.db.get_store(&grant.store_hash).await?;
    let owner = MerchantUser {
        id: grant.owner.id,
        email: grant.owner.email,
    };
    // Sealed before it is stored: only the functions that call BigCommerce can open it.
    let access_token = deps
        .bigcommerce
        .seal_token(&grant.store_hash, &grant.access_token)
        .await?;
    let store = Store {
        store_hash: grant.store_hash,
        status: StoreStatus::Installed,
        access_token,
        scopes: grant.scopes,
        owner,
        account_uuid: grant.account_uuid.unwrap_or_default(),
        webhook_secret: previous
            .as_ref()
            .map(|p| p.webhook_secret.clone())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(Secret::random),
        installed_at: previous
            .as_ref()
            .filter(|p| p.is_installed())
            .map_or(now, |p| p.installed_at),
        updated_at: now,
        // Kept: callback tokens issued before the last uninstall never open the app (see `callbacks::load`).
        uninstalled_at: previous.as_ref().and_then(|p| p.uninstalled_at),
        // A re-install within the grace period keeps the store's data.
        purge_after: None,
        settings_version: previous.as_ref().map_or(0, |p| p.settings_version),
    };
    deps.aws.db.put_store(&store).await?;
    Ok(store)
}

fn missing_scopes_page(store_hash: &StoreHash, missing: &[&RequiredScope]) -> WebResponse {
    page::respond_for_store(
        store_hash,
        StatusCode::FORBIDDEN,
        "Permissions missing",
        html! {
            h1 { "Permissions missing" }
            p { "The app was not installed: it needs these permissions, which were not granted:" }
            ul id="missing-scopes" {
                @for scope in missing {
                    li { code { (scope.name) } ": " (scope.purpose) }
                }
            }
            p {
                "Nothing was saved. Install the app again from the BigCommerce control panel and accept every \
                 permission it asks for."
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scope_or_a_wider_one_is_needed() {
        let all: Vec<String> = REQUIRED_SCOPES.iter().map(|s| s.name.to_owned()).collect();
        assert!(missing_scopes(&all).is_empty());
        let wider: Vec<String> = all
            .iter()
            .map(|s| s.replace("_read_only", ""))
            .chain(["store_checkouts_read_only".to_owned()])
            .collect();
        assert!(missing_scopes(&wider).is_empty());
        let without_scripts: Vec<String> = all.into_iter().filter(|s| s != "store_content_checkout").collect();
        let missing: Vec<&str> = missing_scopes(&without_scripts).iter().map(|s| s.name).collect();
        assert_eq!(missing, vec!["store_content_checkout"]);
    }
}
