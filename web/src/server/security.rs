//! Response headers that tell the browser what this site's pages may do.
//!
//! Every page gets a Content-Security-Policy built for the Leptos app: scripts only from this
//! origin plus the inline scripts Leptos writes (the hydration bootstrap and the serialized
//! data of `SsrMode::Async` pages), which carry a fresh per-response nonce, and
//! `'wasm-unsafe-eval'` so the browser may compile the dashboard's WebAssembly. `connect-src
//! 'self'` covers the server functions, the `.wasm` fetch and the same-origin WebSocket (CSP
//! level 3 lets `'self'` match `ws:`/`wss:` on this host; the browser test checks no
//! violation is reported). Nothing may frame the pages. Every other response gets a policy
//! that allows nothing, so an API answer opened directly in a tab cannot run anything either.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The policy of every page, with the response's nonce.
pub(crate) fn page_policy(nonce: Option<&str>) -> String {
    let nonce = nonce
        .map(|nonce| format!(" 'nonce-{nonce}'"))
        .unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'{nonce} 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// For anything that is not a page: nothing may run, load or frame it.
const NOTHING: &str =
    "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Sets the page's policy on the response being rendered. Called from the shell, where Leptos
/// has the response's nonce and lets the page add headers.
pub(crate) fn set_page_policy() {
    use leptos::prelude::use_context;
    let nonce = leptos::nonce::use_nonce();
    let Some(response) = use_context::<leptos_axum::ResponseOptions>() else {
        return;
    };
    if let Ok(value) = HeaderValue::from_str(&page_policy(nonce.as_deref())) {
        response.insert_header(header::CONTENT_SECURITY_POLICY, value);
    }
}

/// Adds the headers every response carries, keeping a page's own policy.
pub(crate) async fn headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, NOTHING),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        // Addresses of this site's pages (a match, a query in the URL) stay on this site.
        (header::REFERRER_POLICY, "same-origin"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ] {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_policy_names_the_nonce_and_allows_wasm_but_not_inline_code() {
        let policy = page_policy(Some("abc_-123"));
        assert!(policy.contains("script-src 'self' 'nonce-abc_-123' 'wasm-unsafe-eval';"));
        assert!(policy.contains("frame-ancestors 'none'"));
        assert!(!policy.contains("unsafe-inline"));
        assert!(!policy.contains("'unsafe-eval'"));
    }
}
