//! The Marketplace and Settings pages: the static files of `web/`, compiled into the Worker so
//! that one artifact carries the API and its pages, and their security headers live in code.
//!
//! Pages are public shells: they hold no data and no secret; everything they show comes from
//! the API under the visitor's session. They load nothing from other origins (the CSP forbids
//! it) and revalidate by ETag, which is a hash of the bytes computed at compile time.

use worker::{Headers, Response};

/// One file served at a fixed path.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    etag: u64,
}

/// FNV-1a, evaluated at compile time: a cache validator, not a security measure.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

macro_rules! asset {
    ($path:literal, $file:literal, $type:expr) => {{
        const BODY: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../web/", $file));
        Asset {
            path: $path,
            content_type: $type,
            body: BODY,
            etag: fnv1a(BODY),
        }
    }};
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// Every file of `web/` (the end-to-end tests check that none is missing).
const ASSETS: &[Asset] = &[
    asset!("/marketplace/integrations", "marketplace.html", HTML),
    asset!("/settings/integrations", "settings.html", HTML),
    asset!(
        "/assets/style.css",
        "assets/style.css",
        "text/css; charset=utf-8"
    ),
    asset!("/assets/api.js", "assets/api.js", JS),
    asset!("/assets/dom.js", "assets/dom.js", JS),
    asset!("/assets/words.js", "assets/words.js", JS),
    asset!("/assets/dialog.js", "assets/dialog.js", JS),
    asset!(
        "/assets/credential-form.js",
        "assets/credential-form.js",
        JS
    ),
    asset!("/assets/session.js", "assets/session.js", JS),
    asset!("/assets/marketplace.js", "assets/marketplace.js", JS),
    asset!("/assets/settings.js", "assets/settings.js", JS),
    asset!("/assets/icon.svg", "assets/icon.svg", "image/svg+xml"),
    asset!("/assets/embed.js", "assets/embed.js", JS),
    asset!("/assets/notice.js", "assets/notice.js", JS),
    asset!("/assets/i18n.js", "assets/i18n.js", JS),
    asset!("/assets/messages/en.js", "assets/messages/en.js", JS),
    asset!("/assets/messages/fr.js", "assets/messages/fr.js", JS),
    asset!("/assets/messages/de.js", "assets/messages/de.js", JS),
    asset!("/assets/messages/es.js", "assets/messages/es.js", JS),
    asset!("/assets/card.js", "assets/card.js", JS),
    // The admin console (platform admins).
    asset!("/admin/catalog", "admin/catalog.html", HTML),
    asset!("/admin/plugins", "admin/plugins.html", HTML),
    asset!("/admin/platform-keys", "admin/platform-keys.html", HTML),
    asset!("/admin/fleet", "admin/fleet.html", HTML),
    asset!("/admin/webhooks", "admin/webhooks.html", HTML),
    asset!("/admin/keyring", "admin/keyring.html", HTML),
    asset!("/admin/audit", "admin/audit.html", HTML),
    asset!("/assets/admin/nav.js", "assets/admin/nav.js", JS),
    asset!("/assets/admin/http.js", "assets/admin/http.js", JS),
    asset!("/assets/admin/table.js", "assets/admin/table.js", JS),
    asset!("/assets/admin/catalog.js", "assets/admin/catalog.js", JS),
    asset!("/assets/admin/editor.js", "assets/admin/editor.js", JS),
    asset!("/assets/admin/preview.js", "assets/admin/preview.js", JS),
    asset!("/assets/admin/logo.js", "assets/admin/logo.js", JS),
    asset!("/assets/admin/plugins.js", "assets/admin/plugins.js", JS),
    asset!(
        "/assets/admin/platform-keys.js",
        "assets/admin/platform-keys.js",
        JS
    ),
    asset!("/assets/admin/fleet.js", "assets/admin/fleet.js", JS),
    asset!("/assets/admin/chart.js", "assets/admin/chart.js", JS),
    asset!("/assets/admin/webhooks.js", "assets/admin/webhooks.js", JS),
    asset!("/assets/admin/keyring.js", "assets/admin/keyring.js", JS),
    asset!("/assets/admin/audit.js", "assets/admin/audit.js", JS),
    // `@byok/connect`, for apps that import it from here rather than from npm.
    asset!("/sdk/connect.js", "../clients/connect/index.js", JS),
];

/// Scripts, styles, images and API calls from this origin only; no inline code. Framing is
/// appended: `frame-ancestors` lists `ALLOWED_EMBED_ORIGINS`, else `'none'`.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; \
                   connect-src 'self'; form-action 'self'; base-uri 'none'";

/// How the pages are served in this deployment and to this visitor.
#[derive(Debug, Clone, Default)]
pub struct PageOptions {
    /// `DEV_MODE`: the pages offer the dev sign-in.
    pub dev: bool,
    /// The visitor's language from `Accept-Language` (`<html lang>`; the session's, if any,
    /// is applied by the page once it knows it).
    pub lang: &'static str,
    /// `ALLOWED_EMBED_ORIGINS`: who may frame the pages.
    pub frame_ancestors: Vec<String>,
    /// Whether connect popups are in use (`CONNECT_ORIGINS` set): the page must keep its
    /// opener to post events, so `Cross-Origin-Opener-Policy` is `unsafe-none`, not
    /// `same-origin` (which would sever it).
    pub keep_opener: bool,
}

impl PageOptions {
    fn csp(&self) -> String {
        let ancestors = if self.frame_ancestors.is_empty() {
            "'none'".to_owned()
        } else {
            self.frame_ancestors.join(" ")
        };
        format!("{CSP}; frame-ancestors {ancestors}")
    }
}

/// Where `/` leads.
pub const HOME: &str = "/marketplace/integrations";
/// Where `/admin` leads.
pub const ADMIN_HOME: &str = "/admin/catalog";

/// One file of `web/`, as found by [`find`].
pub struct Page(&'static Asset);

/// The page or file served at `path`, if any.
pub fn find(path: &str) -> Option<Page> {
    ASSETS.iter().find(|a| a.path == path).map(Page)
}

/// Serves `page`: 304 when `if_none_match` names its ETag. HTML pages carry the visitor's
/// language and, in dev mode, the dev sign-in marker (both told apart in the ETag).
pub fn respond(
    page: Page,
    if_none_match: Option<&str>,
    opts: &PageOptions,
) -> worker::Result<Response> {
    let asset = page.0;
    let html = asset.content_type == HTML;
    let dev = opts.dev && html;
    let lang = if html { opts.lang } else { "" };
    let etag = format!(
        "\"{:016x}{}{}{lang}\"",
        asset.etag,
        if dev { "-dev" } else { "" },
        if html { "-" } else { "" },
    );
    let resp = if if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == etag)) {
        Response::empty()?.with_status(304)
    } else if html {
        let mut text = String::from_utf8_lossy(asset.body).replacen(
            "<html lang=\"en\">",
            &format!("<html lang=\"{lang}\">"),
            1,
        );
        if dev {
            text = text.replacen("data-dev-login=\"false\"", "data-dev-login=\"true\"", 1);
        }
        Response::ok(text)?
    } else {
        Response::from_bytes(asset.body.to_vec())?
    };
    headers(resp.headers(), asset.content_type, &etag, opts)?;
    if html {
        resp.headers().set("vary", "accept-language")?;
    }
    if asset.path.starts_with("/sdk/") {
        // A module script another origin imports: CORS-readable, and it holds nothing private.
        resp.headers().set("access-control-allow-origin", "*")?;
    }
    Ok(resp)
}

fn headers(h: &Headers, content_type: &str, etag: &str, opts: &PageOptions) -> worker::Result<()> {
    h.set("content-type", content_type)?;
    h.set("etag", etag)?;
    h.set("cache-control", "no-cache")?;
    h.set("content-security-policy", &opts.csp())?;
    h.set("x-content-type-options", "nosniff")?;
    h.set("referrer-policy", "no-referrer")?;
    h.set(
        "cross-origin-opener-policy",
        if opts.keep_opener {
            "unsafe-none"
        } else {
            "same-origin"
        },
    )?;
    Ok(())
}

/// The headers of a page built at run time ([`message_page`]): the strict CSP, framed only
/// by `ALLOWED_EMBED_ORIGINS`.
pub fn page_headers(h: &Headers, opts: &PageOptions) -> worker::Result<()> {
    h.set("content-type", HTML)?;
    h.set("content-security-policy", &opts.csp())?;
    h.set("x-content-type-options", "nosniff")?;
    h.set("referrer-policy", "no-referrer")?;
    Ok(())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A page that says one thing (a connect link that did not open), styled like the others:
/// `reason` names the words (`notice.js` shows them in the visitor's language, `lang`);
/// `heading` and `explanation` are the English ones, shown as they are without script.
pub fn message_page(reason: &str, lang: &str, heading: &str, explanation: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{h}</title>\n<link rel=\"icon\" href=\"/assets/icon.svg\" type=\"image/svg+xml\">\n\
         <link rel=\"stylesheet\" href=\"/assets/style.css\">\n\
         <script type=\"module\" src=\"/assets/notice.js\"></script>\n</head>\n\
         <body data-reason=\"{r}\">\n<main id=\"main\">\n<h1>{h}</h1>\n<p class=\"lede\">{e}</p>\n</main>\n</body>\n</html>\n",
        lang = escape(lang),
        r = escape(reason),
        h = escape(heading),
        e = escape(explanation),
    )
}

pub fn home() -> worker::Result<Response> {
    redirect(HOME)
}

pub fn redirect(to: &str) -> worker::Result<Response> {
    let resp = Response::empty()?.with_status(302);
    resp.headers().set("location", to)?;
    Ok(resp)
}

impl Page {
    /// A page of the admin console (`/admin/...`, HTML).
    pub fn is_admin(&self) -> bool {
        self.0.path.starts_with("/admin/") && self.0.content_type == HTML
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_is_served_once_and_every_etag_differs() {
        for (i, a) in ASSETS.iter().enumerate() {
            assert!(a.path.starts_with('/'), "{}", a.path);
            for b in &ASSETS[i + 1..] {
                assert_ne!(a.path, b.path);
                assert_ne!(a.etag, b.etag, "{} and {}", a.path, b.path);
            }
        }
    }

    #[test]
    fn pages_carry_the_dev_marker_and_load_only_local_files() {
        for a in ASSETS.iter().filter(|a| a.content_type == HTML) {
            let text = std::str::from_utf8(a.body).expect("utf-8");
            assert!(text.contains("data-dev-login=\"false\""), "{}", a.path);
            assert!(
                !text.contains("http://") && !text.contains("https://"),
                "{}",
                a.path
            );
            assert!(!text.contains("<script>"), "no inline script in {}", a.path);
        }
    }
}
