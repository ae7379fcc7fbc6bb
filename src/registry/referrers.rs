//! The referrers API (`GET /v2/<name>/referrers/<digest>`, distribution-spec 1.1) and its
//! fallback, the referrers tag schema (`sha256-<hex>` holding an OCI index of referrers),
//! as the spec prescribes for registries without the API (distribution 2.8 among them).
//!
//! The referrers tag is read-modify-written by every client that attaches something, so
//! two writers at the same moment can lose one's entry (the spec says as much: "multiple
//! clients could attempt to update the tag simultaneously resulting in race conditions and
//! data loss … can be resolved by using a registry that provides the referrers API").
//! imgpush narrows the window as far as the protocol allows: it sends `If-Match` with the
//! `ETag` it read (a registry that honours conditions answers 412, and the update is
//! redone on a fresh read), and it never drops or rewrites another tool's entry.

use super::{Client, RegistryError};
use crate::oci::referrers::{self, Merged, ReferrerEntry};
use crate::oci::{Digest, media};
use bytes::Bytes;
use reqwest::header::{ACCEPT, ETAG, HeaderMap, LINK};
use reqwest::{Method, StatusCode, Url};

/// The most pages of a referrers answer followed (a registry that links in a circle must
/// not keep us busy forever).
const MAX_PAGES: usize = 64;

/// How often a conditional update of the referrers tag is redone after a 412.
const MAX_CONDITIONAL_TRIES: usize = 4;

/// The referrers tag of a subject as stored: its bytes and the `ETag` it came with.
#[derive(Clone, Debug)]
pub struct ReferrersTag {
    pub tag: String,
    pub bytes: Bytes,
    pub etag: Option<String>,
}

impl Client {
    /// Lists the referrers of `subject` through the referrers API, every page followed;
    /// `Ok(None)` when the registry answers 404, i.e. has no referrers API (the spec forbids
    /// a 404 from a registry that has it). With `artifact_type`, only those are returned
    /// (filtered here when the registry did not say `OCI-Filters-Applied: artifactType`).
    pub async fn referrers(
        &self,
        repo: &str,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Option<Vec<ReferrerEntry>>, RegistryError> {
        let op = format!("listing the referrers of {repo}@{subject}");
        let mut url = self.url(&format!("{repo}/referrers/{subject}")).await?;
        if let Some(t) = artifact_type {
            url.query_pairs_mut().append_pair("artifactType", t);
        }
        let mut out = Vec::new();
        for page in 0.. {
            if page == MAX_PAGES {
                return Err(self.protocol(
                    &op,
                    format!("more than {MAX_PAGES} pages of referrers; giving up"),
                ));
            }
            let response = self
                .send(&op, Method::GET, url.clone(), &|r| {
                    Ok(r.header(ACCEPT, media::OCI_INDEX))
                })
                .await?;
            match response.status() {
                StatusCode::NOT_FOUND if page == 0 => return Ok(None),
                s if s.is_success() => {}
                _ => return Err(self.status_error(&op, response).await),
            }
            let filtered = filters_applied(response.headers());
            let next = next_link(response.headers());
            let bytes = self
                .read_bounded(&op, response, super::MAX_DOCUMENT_BYTES)
                .await?;
            let entries = referrers::entries(&bytes).map_err(|m| {
                self.protocol(&op, format!("the referrers answer is not a list: {m}"))
            })?;
            out.extend(entries.into_iter().filter(|e| {
                filtered || artifact_type.is_none_or(|t| e.artifact_type.as_deref() == Some(t))
            }));
            match next {
                Some(link) => url = self.follow_link(&op, &url, &link)?,
                None => break,
            }
        }
        Ok(Some(out))
    }

    /// Reads the referrers tag of `subject` (`Ok(None)`: the tag does not exist). Checked
    /// against the digest the registry announces; not served from the cache, since every
    /// attaching client rewrites it.
    pub async fn referrers_tag(
        &self,
        repo: &str,
        subject: &Digest,
    ) -> Result<Option<ReferrersTag>, RegistryError> {
        let tag = referrers::fallback_tag(subject);
        let op = format!("reading the referrers tag {repo}:{tag}");
        let url = self.url(&format!("{repo}/manifests/{tag}")).await?;
        let fetch = || async {
            let response = self
                .send(&op, Method::GET, url.clone(), &|r| {
                    Ok(r.header(ACCEPT, media::MANIFEST_ACCEPT))
                })
                .await?;
            if response.status() == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            if !response.status().is_success() {
                return Err(self.status_error(&op, response).await);
            }
            let header = |name| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let etag = header(ETAG);
            let echoed = header(reqwest::header::HeaderName::from_static(
                "docker-content-digest",
            ));
            let bytes = self
                .read_bounded(&op, response, super::MAX_DOCUMENT_BYTES)
                .await?;
            if let Some(expected) = echoed.and_then(|e| e.parse::<Digest>().ok()) {
                let actual = Digest::of(&bytes);
                if actual != expected {
                    return Err(RegistryError::DigestMismatch {
                        what: format!("referrers tag {repo}:{tag}"),
                        expected,
                        actual: actual.to_string(),
                    });
                }
            }
            Ok(Some(ReferrersTag {
                tag: tag.clone(),
                bytes,
                etag,
            }))
        };
        self.retry_body(&op, fetch).await
    }

    /// Adds `ours` (referrers-list entries, see `image::Referrer::list_entry`) to the
    /// referrers tag of `subject`, keeping every entry already there: read it (a missing
    /// tag is an empty list), merge, and write it back only when something was added — with
    /// `If-Match` when the registry gave an `ETag`, redone on a 412. The manifests the
    /// entries name must be in the repository already (distribution refuses an index over
    /// missing manifests).
    pub async fn add_to_referrers_tag(
        &self,
        repo: &str,
        subject: &Digest,
        ours: &[serde_json::Value],
    ) -> Result<Merged, RegistryError> {
        let tag = referrers::fallback_tag(subject);
        let mut tries = 0;
        loop {
            tries += 1;
            let current = self.referrers_tag(repo, subject).await?;
            let merged = referrers::merge(current.as_ref().map(|c| c.bytes.as_ref()), ours)
                .map_err(|message| RegistryError::ReferrersTag {
                    registry: self.registry().to_string(),
                    reference: format!("{repo}:{tag}"),
                    message,
                })?;
            let Some(bytes) = &merged.bytes else {
                return Ok(merged);
            };
            let etag = current.as_ref().and_then(|c| c.etag.as_deref());
            match self
                .put_manifest_answer(
                    repo,
                    &tag,
                    &Bytes::from(bytes.clone()),
                    media::OCI_INDEX,
                    etag,
                )
                .await
            {
                Ok(_) => return Ok(merged),
                Err(RegistryError::Status { status: 412, .. }) if tries < MAX_CONDITIONAL_TRIES => {
                    self.reporter.event(crate::report::Event::Detail(format!(
                        "the referrers tag {repo}:{tag} changed while we updated it; reading it again"
                    )));
                }
                // Two writers putting the same list at one moment: distribution may refuse
                // one of them (400 DIGEST_INVALID, its blob store raced). Read the tag again;
                // the other writer's list may hold our entries already.
                Err(RegistryError::Status {
                    status: 400,
                    code: Some(code),
                    ..
                }) if code == "DIGEST_INVALID" && tries < MAX_CONDITIONAL_TRIES => {
                    self.reporter.event(crate::report::Event::Detail(format!(
                        "the referrers tag {repo}:{tag} was written by another writer at the same moment; reading it again"
                    )));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The URL of a `Link: <…>; rel="next"` page, resolved against the one that named it;
    /// leaving https for plain http is refused as for upload locations.
    fn follow_link(&self, op: &str, from: &Url, link: &str) -> Result<Url, RegistryError> {
        let url = from
            .join(link)
            .map_err(|e| self.protocol(op, format!("bad Link `{link}`: {e}")))?;
        if !super::origin::downgrade_allowed(from, &url, &self.config.insecure_hosts) {
            return Err(RegistryError::Downgrade {
                op: op.to_string(),
                registry: self.registry().to_string(),
                url: super::origin::redact(&url),
            });
        }
        Ok(url)
    }
}

/// Did the registry apply the `artifactType` filter (`OCI-Filters-Applied`)?
fn filters_applied(headers: &HeaderMap) -> bool {
    headers
        .get_all("oci-filters-applied")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|f| f.trim() == "artifactType")
}

/// The target of the `rel="next"` link of a `Link` header (RFC 8288), if any.
pub(crate) fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|link| {
            let (target, params) = link.trim().split_once(';')?;
            let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
            let next = params.split(';').any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            });
            next.then(|| target.to_string())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn the_next_link_is_found_among_others() {
        let mut h = HeaderMap::new();
        assert_eq!(next_link(&h), None);
        h.insert(
            LINK,
            HeaderValue::from_static(
                r#"</v2/a/referrers/sha256:1?n=1&last=x>; rel="prev", </v2/a/referrers/sha256:1?n=1&last=y>; rel="next""#,
            ),
        );
        assert_eq!(
            next_link(&h).as_deref(),
            Some("/v2/a/referrers/sha256:1?n=1&last=y")
        );
        let mut h = HeaderMap::new();
        h.insert(
            LINK,
            HeaderValue::from_static("<https://r.example/p2>;rel=next"),
        );
        assert_eq!(next_link(&h).as_deref(), Some("https://r.example/p2"));
    }

    #[test]
    fn filters_applied_is_read_from_a_list() {
        let mut h = HeaderMap::new();
        assert!(!filters_applied(&h));
        h.insert(
            "oci-filters-applied",
            HeaderValue::from_static("annotation, artifactType"),
        );
        assert!(filters_applied(&h));
    }
}
