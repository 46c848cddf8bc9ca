//! Helpers for the install flow and the settings page, driven over HTTP like BigCommerce and the merchant's
//! browser would: the install callback, `/load` with a signed JWT, the session cookie, form posts with the
//! page's CSRF token.

use crate::TestApp;
use reqwest::StatusCode;
use sim::bigcommerce::JwtClaims;

/// Every scope the app asks for.
pub fn all_scopes() -> Vec<&'static str> {
    ::install::auth::REQUIRED_SCOPES.iter().map(|s| s.name).collect()
}

/// A page the app answered with, and the session cookie it set (if any).
#[derive(Debug, Clone)]
pub struct AppPage {
    pub status: StatusCode,
    /// `name=value` of the session cookie, ready for a `Cookie` header.
    pub cookie: Option<String>,
    /// The full `Set-Cookie` line, to check its attributes.
    pub set_cookie: Option<String>,
    /// The `Content-Security-Policy` header (who may frame the page).
    pub content_security_policy: Option<String>,
    pub html: String,
}

impl AppPage {
    pub async fn read(response: reqwest::Response) -> Self {
        let status = response.status();
        let set_cookie = response
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(::install::session::COOKIE_NAME))
            .map(str::to_owned);
        let content_security_policy = response
            .headers()
            .get(reqwest::header::CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let cookie = set_cookie
            .as_deref()
            .and_then(|c| c.split(';').next())
            .map(str::to_owned);
        Self {
            status,
            cookie,
            set_cookie,
            content_security_policy,
            html: response.text().await.expect("page body"),
        }
    }

    /// The value of the first `<input ... name="{name}" value="...">` on the page.
    pub fn input(&self, name: &str) -> Option<String> {
        let at = self.html.find(&format!("name=\"{name}\""))?;
        let rest = &self.html[at..];
        let start = rest.find("value=\"")? + 7;
        let end = rest[start..].find('"')?;
        Some(unescape(&rest[start..start + end]))
    }

    pub fn csrf(&self) -> String {
        self.input("csrf").expect("the page has a CSRF token")
    }

    pub fn based_on_version(&self) -> String {
        self.input("based_on_version")
            .expect("the page has the settings version")
    }

    pub fn contains(&self, text: &str) -> bool {
        self.html.contains(text)
    }

    /// The sources of the `frame-ancestors` directive: who may show this page in a frame.
    pub fn frame_ancestors(&self) -> Vec<String> {
        self.content_security_policy
            .as_deref()
            .unwrap_or_default()
            .split(';')
            .map(str::trim)
            .find_map(|directive| directive.strip_prefix("frame-ancestors "))
            .map(|sources| sources.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default()
    }
}

fn unescape(value: &str) -> String {
    value
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A merchant's browser session on the settings page.
#[derive(Debug, Clone)]
pub struct Merchant {
    pub cookie: String,
    pub page: AppPage,
}

/// A complete, valid settings form for the SMS-checkbox option (without the CSRF token and version).
pub fn sms_form() -> Vec<(String, String)> {
    [
        ("consent_option", "sms_checkbox"),
        ("terms_url", "https://acme.example.com/terms"),
        ("privacy_url", "https://acme.example.com/privacy"),
        ("sync_contacts", "on"),
        ("subscriber_group", "Store subscribers"),
        ("customer_group", "Store customers"),
        ("brand_name", "Acme Outfitters"),
        ("help_contact", "help@acme.example.com"),
        ("sender_id", "+12125550100"),
        ("first_delay_minutes", "30"),
        ("max_steps", "3"),
        ("step2_delay_hours", "24"),
        ("step3_delay_hours", "48"),
        ("smart_sending_hours", "24"),
        ("quiet_start", ""),
        ("quiet_end", ""),
        ("us_double_opt_in", "on"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Sets (or, with `None`, removes) a field of a form.
pub fn set(form: &mut Vec<(String, String)>, name: &str, value: Option<&str>) {
    form.retain(|(k, _)| k != name);
    if let Some(value) = value {
        form.push((name.to_owned(), value.to_owned()));
    }
}

impl TestApp {
    /// The merchant accepts the app with `scopes`, and BigCommerce sends their browser to `/auth`.
    pub async fn authorize(&self, hash: &str, scopes: &[&str]) -> AppPage {
        let grant = self.bigcommerce.authorize_install(hash, scopes);
        self.get_page(&format!("/auth?{}", grant.callback_query()), None).await
    }

    /// Creates the store in the simulator and installs the app with every scope it needs.
    pub async fn install_app(&self, hash: &str) -> Merchant {
        self.bigcommerce
            .create_store(hash, sim::bigcommerce::StoreSeed::default());
        let page = self.authorize(hash, &all_scopes()).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
        Merchant {
            cookie: page.cookie.clone().expect("the setup page starts a session"),
            page,
        }
    }

    /// `GET` a page, with a session cookie if given.
    pub async fn get_page(&self, path: &str, cookie: Option<&str>) -> AppPage {
        let mut request = self.http.get(self.url(path));
        if let Some(cookie) = cookie {
            request = request.header(reqwest::header::COOKIE, cookie);
        }
        AppPage::read(request.send().await.expect("request reaches the app")).await
    }

    /// Opens the app from the control panel with signed claims.
    pub async fn load_with(&self, claims: &JwtClaims) -> AppPage {
        self.callback_with("/load", claims).await
    }

    /// Calls a JWT callback (`/load`, `/uninstall`, `/remove_user`) with `claims` signed by BigCommerce.
    pub async fn callback_with(&self, path: &str, claims: &JwtClaims) -> AppPage {
        let jwt = self.bigcommerce.sign_jwt(claims);
        self.get_page(&format!("{path}?signed_payload_jwt={jwt}"), None).await
    }

    /// Opens the app as `user_id` (the owner when `None`) and returns the session.
    pub async fn open_app(&self, hash: &str, user: Option<(u64, &str)>) -> Merchant {
        let mut claims = self.bigcommerce.jwt_claims(hash);
        if let Some((id, email)) = user {
            claims.user.id = id;
            claims.user.email = email.to_owned();
        }
        let page = self.load_with(&claims).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
        Merchant {
            cookie: page.cookie.clone().expect("/load starts a session"),
            page,
        }
    }

    /// Posts a form as the merchant's browser would, with their cookie.
    pub async fn post_form(&self, path: &str, cookie: Option<&str>, form: &[(String, String)]) -> AppPage {
        let mut request = self.http.post(self.url(path)).form(form);
        if let Some(cookie) = cookie {
            request = request.header(reqwest::header::COOKIE, cookie);
        }
        AppPage::read(request.send().await.expect("request reaches the app")).await
    }

    /// Submits `form` to `path` from the merchant's current page (its CSRF token and settings version), and
    /// makes the answer their current page.
    pub async fn submit(&self, merchant: &mut Merchant, path: &str, mut form: Vec<(String, String)>) -> AppPage {
        set(&mut form, "csrf", Some(&merchant.page.csrf()));
        if let Some(version) = merchant.page.input("based_on_version") {
            set(&mut form, "based_on_version", Some(&version));
        }
        let page = self.post_form(path, Some(&merchant.cookie), &form).await;
        if page.status != StatusCode::UNAUTHORIZED && page.status != StatusCode::FORBIDDEN {
            merchant.page = page.clone();
        }
        page
    }

    /// `/uninstall` as BigCommerce calls it after uninstalling (tokens revoked, hooks and scripts gone).
    pub async fn uninstall_app(&self, hash: &str) -> AppPage {
        let jwt = self.bigcommerce.uninstall(hash);
        self.get_page(&format!("/uninstall?signed_payload_jwt={jwt}"), None)
            .await
    }
}
