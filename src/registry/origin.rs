//! Where a request may go and what of it may be shown: plain-http downgrade rules, the
//! same-origin test that keeps `Authorization` on the registry, and URL redaction.

use super::is_loopback;
use reqwest::Url;

/// Why a redirect was not followed; found again in the error chain by [`RegistryError`].
#[derive(Debug)]
pub(crate) struct DowngradeRefused(pub String);

impl std::fmt::Display for DowngradeRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "refused a redirect from https to plain http ({})",
            self.0
        )
    }
}

impl std::error::Error for DowngradeRefused {}

/// May a request go to `to` over plain http (after `from`, if it was https)? Only to
/// loopback, or to a host given with `--insecure-registry`: elsewhere it would expose the
/// request, and the credentials or signatures it carries, to the network.
pub(crate) fn downgrade_allowed(from: &Url, to: &Url, insecure_hosts: &[String]) -> bool {
    !(from.scheme() == "https" && to.scheme() == "http") || plain_http_allowed(to, insecure_hosts)
}

/// Is plain http to `url`'s host acceptable (loopback, or an `--insecure-registry` host)?
pub(crate) fn plain_http_allowed(url: &Url, insecure_hosts: &[String]) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let with_port = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    is_loopback(host)
        || insecure_hosts
            .iter()
            .any(|h| *h == with_port || (!h.contains(':') && h == host))
}

/// Same scheme, host and port: the only requests that get the registry's `Authorization`.
/// An upload `Location` or a blob's storage URL on another host carries its own
/// authorization (a signed query), and must never see our token.
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

pub(super) fn find_downgrade(e: &reqwest::Error) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(d) = c.downcast_ref::<DowngradeRefused>() {
            return Some(d.0.clone());
        }
        cause = c.source();
    }
    None
}

/// A URL for logs and errors: no user info and no query (upload `_state` tokens and
/// signed storage parameters stay out of both).
pub(crate) fn redact(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn credentials_stay_on_the_registry_origin() {
        let base = u("https://registry.example.com/");
        assert!(same_origin(
            &u("https://registry.example.com/v2/a/blobs/uploads/x?_state=s"),
            &base
        ));
        assert!(same_origin(
            &u("https://registry.example.com:443/v2/"),
            &base
        ));
        for other in [
            "https://storage.example.com/blob?sig=1",
            "https://registry.example.com:8443/v2/",
            "http://registry.example.com/v2/",
        ] {
            assert!(!same_origin(&u(other), &base), "{other}");
        }
    }

    #[test]
    fn https_to_http_only_for_loopback_or_insecure_hosts() {
        let from = u("https://registry.example.com/v2/a/blobs/x");
        let none: Vec<String> = vec![];
        let storage = vec!["storage.example.com".to_string()];
        let registry_only = vec!["registry.example.com".to_string()];
        let with_port = vec!["storage.example.com:8080".to_string()];
        assert!(!downgrade_allowed(
            &from,
            &u("http://storage.example.com/b"),
            &none
        ));
        assert!(
            !downgrade_allowed(&from, &u("http://storage.example.com/b"), &registry_only),
            "--insecure-registry for the registry does not open other hosts"
        );
        assert!(downgrade_allowed(
            &from,
            &u("http://storage.example.com/b"),
            &storage
        ));
        assert!(downgrade_allowed(
            &from,
            &u("http://storage.example.com:8080/b"),
            &storage
        ));
        assert!(downgrade_allowed(
            &from,
            &u("http://storage.example.com:8080/b"),
            &with_port
        ));
        assert!(!downgrade_allowed(
            &from,
            &u("http://storage.example.com:9/b"),
            &with_port
        ));
        assert!(downgrade_allowed(
            &from,
            &u("http://127.0.0.1:9000/b"),
            &none
        ));
        assert!(downgrade_allowed(&from, &u("http://[::1]:9000/b"), &none));
        assert!(downgrade_allowed(
            &from,
            &u("https://storage.example.com/b"),
            &none
        ));
        let plain = u("http://127.0.0.1:5000/v2/");
        assert!(downgrade_allowed(&plain, &u("http://10.0.0.1/b"), &none));
    }

    #[test]
    fn redacted_urls_have_no_query_or_user() {
        let shown = redact(&u(
            "https://user:pw@s3.example.com/b/sha256?X-Amz-Signature=abc&_state=xyz",
        ));
        assert_eq!(shown, "https://s3.example.com/b/sha256");
    }
}
