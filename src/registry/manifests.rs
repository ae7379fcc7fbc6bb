//! Manifest GET (with every OCI and Docker Accept type, verified against its digest) and PUT.

use super::{Client, RegistryError};
use crate::oci::{Digest, Target, media};
use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};

/// A manifest or index as the registry stored it: exact bytes, their digest, media type.
#[derive(Clone, Debug)]
pub struct FetchedManifest {
    pub bytes: Bytes,
    pub digest: Digest,
    pub media_type: String,
}

impl Client {
    /// Fetches a manifest by tag or digest. By digest, the bytes must hash to it; by tag,
    /// they must hash to the `Docker-Content-Digest` the registry announces (when it does).
    ///
    /// With a cache, a manifest known by digest is not fetched at all, and a tag whose
    /// digest is unchanged since the last fetch costs one HEAD request.
    pub async fn get_manifest(
        &self,
        repo: &str,
        target: &Target,
    ) -> Result<FetchedManifest, RegistryError> {
        let cache = self.config.cache.as_ref();
        let tag_key = match target {
            Target::Tag(t) => Some(format!("{}/{repo}:{t}", self.registry())),
            Target::Digest(_) => None,
        };
        if let Some(cache) = cache {
            let known = match (target, &tag_key) {
                (Target::Digest(d), _) => Some(d.clone()),
                (Target::Tag(_), Some(key)) => cache.get_ref(key),
                _ => None,
            };
            if let Some(digest) = known
                && let Some(bytes) = cache.get_bytes(&digest)
            {
                let current = match target {
                    Target::Digest(_) => true,
                    Target::Tag(_) => {
                        self.manifest_digest(repo, target).await? == Some(digest.clone())
                    }
                };
                if current {
                    self.reporter.event(crate::report::Event::Trace(format!(
                        "manifest {repo}:{target} from the cache ({digest})"
                    )));
                    return Ok(FetchedManifest {
                        media_type: media_type_of(&bytes),
                        bytes,
                        digest,
                    });
                }
            }
        }
        let op = format!("fetching manifest {repo}:{target}");
        let fetched = self
            .retry_body(&op, || self.get_manifest_once(repo, target, &op))
            .await?;
        if let Some(cache) = cache
            && fetched.media_type == media_type_of(&fetched.bytes)
        {
            cache.put_bytes(&fetched.digest, &fetched.bytes);
            if let Some(key) = &tag_key {
                cache.put_ref(key, &fetched.digest);
            }
        }
        Ok(fetched)
    }

    async fn get_manifest_once(
        &self,
        repo: &str,
        target: &Target,
        op: &str,
    ) -> Result<FetchedManifest, RegistryError> {
        let op = op.to_string();
        let url = self.url(&format!("{repo}/manifests/{target}")).await?;
        let response = self
            .send(&op, Method::GET, url, &|r| {
                Ok(r.header(ACCEPT, media::MANIFEST_ACCEPT))
            })
            .await?;
        if !response.status().is_success() {
            return Err(self.status_error(&op, response).await);
        }
        let header_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_string());
        let echoed = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = self
            .read_bounded(&op, response, super::MAX_DOCUMENT_BYTES)
            .await?;
        let actual = Digest::of(&bytes);
        let expected = match target {
            Target::Digest(d) => Some(d.clone()),
            Target::Tag(_) => echoed.as_deref().and_then(|e| e.parse().ok()),
        };
        if let Some(expected) = expected
            && expected != actual
        {
            return Err(RegistryError::DigestMismatch {
                what: format!("manifest {repo}:{target}"),
                expected,
                actual: actual.to_string(),
            });
        }
        // The body's own mediaType is authoritative; registries sometimes answer with a
        // generic Content-Type.
        let body_type = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| {
                v.get("mediaType")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            });
        let media_type = body_type
            .or(header_type)
            .ok_or_else(|| self.protocol(&op, "the manifest has no media type".into()))?;
        Ok(FetchedManifest {
            bytes,
            digest: actual,
            media_type,
        })
    }

    /// `HEAD` a manifest: its digest if the reference exists.
    pub async fn manifest_digest(
        &self,
        repo: &str,
        target: &Target,
    ) -> Result<Option<Digest>, RegistryError> {
        let op = format!("checking manifest {repo}:{target}");
        let url = self.url(&format!("{repo}/manifests/{target}")).await?;
        let response = self
            .send(&op, Method::HEAD, url, &|r| {
                Ok(r.header(ACCEPT, media::MANIFEST_ACCEPT))
            })
            .await?;
        match response.status() {
            s if s.is_success() => Ok(response
                .headers()
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.status_error(&op, response).await),
        }
    }

    /// `PUT /v2/<repo>/manifests/<reference>`; the registry's echoed digest must be ours.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        bytes: &Bytes,
        media_type: &str,
    ) -> Result<Digest, RegistryError> {
        Ok(self
            .put_manifest_answer(repo, reference, bytes, media_type, None)
            .await?
            .digest)
    }

    /// [`Client::put_manifest`], with the parts of the answer that matter for referrers:
    /// `OCI-Subject` (a registry with the referrers API names the subject it indexed), and
    /// an optional `If-Match` condition (a registry that honours it answers 412 when the
    /// reference changed since it was read; distribution 2.8 ignores it).
    pub async fn put_manifest_answer(
        &self,
        repo: &str,
        reference: &str,
        bytes: &Bytes,
        media_type: &str,
        if_match: Option<&str>,
    ) -> Result<ManifestPut, RegistryError> {
        let digest = Digest::of(bytes);
        let op = format!("pushing manifest {digest} as {repo}:{reference}");
        let url = self.url(&format!("{repo}/manifests/{reference}")).await?;
        let response = self
            .send(&op, Method::PUT, url, &|r| {
                let r = r.header(CONTENT_TYPE, media_type).body(bytes.clone());
                Ok(match if_match {
                    Some(tag) => r.header(reqwest::header::IF_MATCH, tag),
                    None => r,
                })
            })
            .await?;
        if !response.status().is_success() {
            return Err(self.status_error(&op, response).await);
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        if let Some(echoed) = header("docker-content-digest")
            && echoed != digest.as_str()
        {
            return Err(self.protocol(
                &op,
                format!("the registry stored digest {echoed}, not {digest}"),
            ));
        }
        let subject = match header("oci-subject") {
            None => None,
            Some(s) => Some(s.trim().parse().map_err(|_| {
                self.protocol(&op, format!("the OCI-Subject header `{s}` is not a digest"))
            })?),
        };
        Ok(ManifestPut { digest, subject })
    }
}

/// What a manifest PUT was answered with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestPut {
    pub digest: Digest,
    /// `OCI-Subject`: the registry processed the manifest's `subject` (it has the referrers
    /// API), so no referrers tag needs writing.
    pub subject: Option<Digest>,
}

/// The media type a manifest's JSON declares, or (OCI allows leaving `mediaType` out)
/// what its shape says it is.
pub(crate) fn media_type_of(bytes: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Shape {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<Shape>(bytes) {
        Ok(Shape {
            media_type: Some(m),
            ..
        }) => m,
        Ok(Shape {
            manifests: Some(_), ..
        }) => media::OCI_INDEX.to_string(),
        _ => media::OCI_MANIFEST.to_string(),
    }
}

impl Client {
    /// Proves the configured credential works: `GET /v2/` must end in 200 after the
    /// authentication dance (a Basic header, or a token fetched with the credential).
    pub async fn check_login(&self) -> Result<(), RegistryError> {
        let op = format!("logging in to {}", self.registry());
        let url = self.url("").await?;
        let response = self.send(&op, Method::GET, url, &Ok).await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(self.status_error(&op, response).await)
        }
    }
}
