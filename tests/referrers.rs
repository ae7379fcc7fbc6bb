//! OCI 1.1 referrers (issue 14): documents attached to each platform manifest as artifact
//! manifests with a `subject`.
//!
//! - distribution 2.8 has no referrers API: the referrers tag `sha256-<hex>` holds an
//!   index of them (read back with skopeo too), another tool's entry there survives, and
//!   `imgpush sbom` prints the document's exact bytes.
//! - A re-push with attachments costs the same requests as a no-op push without them.
//! - A front with the referrers API (and `OCI-Subject` on manifest PUT): no referrers tag
//!   is written, and reading goes through the paged API.
//! - OCI layouts and archives hold them (the referrers tag in index.json).
//!
//! The attachments are made here through the library (`ImageSet::attach`), as the build
//! will make them from its SBOM and provenance.

mod support;

use imgpush::base::{self, ClientFor};
use imgpush::cache::Cache;
use imgpush::image::{Attachment, ComposeInput, ImageError, ImageFormat, ImageSet, ImageSettings};
use imgpush::layer::{EntrySource, LayerEntry, LayerOptions, write_layer};
use imgpush::oci::referrers::fallback_tag;
use imgpush::oci::{Digest, Platform, Repository, media};
use imgpush::plan::BaseSpec;
use imgpush::publish::{ArchiveSink, LayoutSink, PublishContext, RegistrySink, Sink};
use imgpush::registry::{Client, ClientSettings, UploadSource};
use imgpush::report::{NoopReporter, ProgressId};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use support::*;

struct One(Arc<Client>);
impl ClientFor for One {
    fn client_for(&self, _registry: &str) -> Arc<Client> {
        self.0.clone()
    }
}

fn client(registry: &str, cache: Option<&Path>) -> Arc<Client> {
    Arc::new(Client::new(
        ClientSettings {
            cache: cache.map(Cache::new),
            registry: registry.to_string(),
            insecure: false,
            insecure_hosts: vec![],
            credential: None,
            credential_source: None,
            scopes: vec![],
            chunk_size: None,
            retries: 0,
            read_timeout: imgpush::registry::DEFAULT_READ_TIMEOUT,
            extra_roots: vec![],
        },
        Arc::new(NoopReporter),
    ))
}

fn platforms() -> [Platform; 2] {
    [
        "linux/amd64".parse().unwrap(),
        "linux/arm64".parse().unwrap(),
    ]
}

/// The hello image for both platforms on `base` (read through `clients`).
async fn hello_set(base: &BaseSpec, clients: &One, work: &Path, format: ImageFormat) -> ImageSet {
    let opened = base::open(
        base,
        clients,
        work,
        base::OpenContext {
            cache: None,
            archive: &base::debian::ArchiveOverrides::default(),
            reporter: &NoopReporter,
        },
    )
    .await
    .unwrap();
    let base_image = opened.select(&platforms()).await.unwrap();
    let hello = hello();
    let layers: Vec<(Platform, Vec<_>)> = platforms()
        .into_iter()
        .zip([&hello.amd64, &hello.arm64])
        .map(|(p, bin)| {
            let layer = write_layer(
                vec![LayerEntry::file(
                    "/app/hello",
                    EntrySource::Path(bin.clone()),
                    0o755,
                )],
                "test".into(),
                LayerOptions::default(),
                work,
            )
            .unwrap();
            (p, vec![layer])
        })
        .collect();
    compose_with(&base_image, &layers, format)
}

fn compose_with(
    base_image: &imgpush::image::BaseImage,
    layers: &[(Platform, Vec<imgpush::layer::Layer>)],
    format: ImageFormat,
) -> ImageSet {
    imgpush::image::compose(&ComposeInput {
        base: base_image,
        layers,
        settings: &ImageSettings::default(),
        format,
    })
    .unwrap()
}

/// A stand-in SPDX document for a platform (the real ones come from `image::sbom`).
fn spdx(platform: &Platform) -> Vec<u8> {
    format!(
        "{{\n  \"spdxVersion\": \"SPDX-2.3\",\n  \"name\": \"hello {platform}\",\n  \"packages\": []\n}}\n"
    )
    .into_bytes()
}

fn provenance(platform: &Platform, revision: &str) -> Vec<u8> {
    format!(r#"{{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://slsa.dev/provenance/v1","subject":[{{"name":"{platform}"}}],"revision":"{revision}"}}"#).into_bytes()
}

/// An SBOM and a provenance statement on each platform, created at the epoch.
fn attach_all(set: &mut ImageSet, revision: &str) {
    for p in platforms() {
        set.attach(
            &p,
            &Attachment::new(media::SPDX_JSON, spdx(&p)).created_at(0),
        )
        .unwrap();
        set.attach(
            &p,
            &Attachment::new(media::IN_TOTO_JSON, provenance(&p, revision)).created_at(0),
        )
        .unwrap();
    }
}

async fn push(client: &Arc<Client>, repo: &str, set: &ImageSet) {
    let repo: Repository = repo.parse().unwrap();
    let sink = RegistrySink {
        client: client.clone(),
        repo,
    };
    let tags = vec!["latest".to_string()];
    sink.publish(&PublishContext {
        set,
        tags: &tags,
        reporter: &NoopReporter,
        jobs: 4,
    })
    .await
    .unwrap();
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)))
}

/// Another tool's referrer of `subject` (a cosign-like signature), pushed with its own
/// referrers tag entry, which carries a field imgpush does not know.
async fn other_tools_referrer(client: &Client, repo: &str, subject: &Digest, size: u64) -> Value {
    for blob in [&b"{}"[..], b"signature"] {
        client
            .upload_blob(
                repo,
                &Digest::of(blob),
                blob.len() as u64,
                UploadSource::Bytes(bytes::Bytes::copy_from_slice(blob)),
                None,
                ProgressId(0),
            )
            .await
            .unwrap();
    }
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
        "config": {"mediaType": media::OCI_EMPTY, "digest": Digest::of(b"{}").to_string(), "size": 2},
        "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "digest": Digest::of(b"signature").to_string(), "size": 9}],
        "subject": {"mediaType": media::OCI_MANIFEST, "digest": subject.to_string(), "size": size},
    }))
    .unwrap();
    let digest = Digest::of(&manifest);
    client
        .put_manifest(
            repo,
            digest.as_str(),
            &manifest.clone().into(),
            media::OCI_MANIFEST,
        )
        .await
        .unwrap();
    let entry = json!({
        "mediaType": media::OCI_MANIFEST,
        "digest": digest.to_string(),
        "size": manifest.len(),
        "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
        "annotations": {"dev.sigstore.cosign/signature": "MEUCIQ"},
        "x-other-tool": {"kept": true},
    });
    let list = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": [entry],
    }))
    .unwrap();
    client
        .put_manifest(repo, &fallback_tag(subject), &list.into(), media::OCI_INDEX)
        .await
        .unwrap();
    entry
}

#[tokio::test]
async fn the_referrers_tag_lists_the_attachments_and_keeps_other_tools_entries() {
    let registry = Registry::start();
    let base_ref = registry.seed_busybox("base/busybox", &[]);
    let work = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let client = client(&registry.host, Some(cache.path()));
    let base = BaseSpec::Registry(base_ref.parse().unwrap());
    let mut set = hello_set(&base, &One(client.clone()), work.path(), ImageFormat::Oci).await;
    attach_all(&mut set, "r1");
    let repo = format!("{}/app/attached", registry.host);
    let amd64 = &set.images[0].manifest;
    let theirs = other_tools_referrer(
        &client,
        "app/attached",
        &amd64.digest,
        amd64.bytes.len() as u64,
    )
    .await;

    let before = registry.requests().len();
    push(&client, &repo, &set).await;
    let first_push = registry.requests()[before..].to_vec();
    eprintln!("first push with attachments: {} requests", first_push.len());
    // Referrers went in after their subjects and before the index and its tag.
    let position = |want: &str| {
        first_push
            .iter()
            .position(|r| r == want)
            .unwrap_or_else(|| panic!("no `{want}` in {first_push:#?}"))
    };
    let index_put = position(&format!(
        "PUT /v2/app/attached/manifests/{}",
        set.index.digest
    ));
    let tag_put = position("PUT /v2/app/attached/manifests/latest");
    for image in &set.images {
        let subject_put = position(&format!(
            "PUT /v2/app/attached/manifests/{}",
            image.manifest.digest
        ));
        let list_put = position(&format!(
            "PUT /v2/app/attached/manifests/{}",
            fallback_tag(&image.manifest.digest)
        ));
        for r in &image.referrers {
            let put = position(&format!(
                "PUT /v2/app/attached/manifests/{}",
                r.manifest.digest
            ));
            assert!(subject_put < put && put < list_put, "{first_push:#?}");
        }
        assert!(
            list_put < index_put && index_put < tag_put,
            "{first_push:#?}"
        );
    }

    for image in &set.images {
        let subject = &image.manifest.digest;
        // skopeo, which shares no code with imgpush, reads the referrers tag.
        let list = json_of(&skopeo_raw(
            &format!("docker://{repo}:{}", fallback_tag(subject)),
            None,
        ));
        assert_eq!(list["mediaType"], media::OCI_INDEX);
        let entries = list["manifests"].as_array().unwrap();
        let ours: Vec<&Value> = if image.platform.architecture == "amd64" {
            assert_eq!(
                entries[0], theirs,
                "the other tool's entry, every field of it"
            );
            entries[1..].iter().collect()
        } else {
            entries.iter().collect()
        };
        assert_eq!(ours.len(), 2, "{list:#}");
        for (entry, r) in ours.iter().zip(&image.referrers) {
            assert_eq!(entry["digest"], r.manifest.digest.as_str());
            assert_eq!(entry["artifactType"], r.artifact_type.as_str());
            assert_eq!(
                entry["annotations"]["org.opencontainers.image.created"],
                "1970-01-01T00:00:00Z"
            );
            let manifest = json_of(&skopeo_raw(
                &format!("docker://{repo}@{}", r.manifest.digest),
                None,
            ));
            assert_eq!(manifest["subject"]["digest"], subject.as_str());
            assert_eq!(manifest["subject"]["size"], image.manifest.bytes.len());
            assert_eq!(manifest["artifactType"], r.artifact_type.as_str());
            assert_eq!(
                manifest["config"]["digest"],
                imgpush::oci::EMPTY_JSON_DIGEST
            );
            assert_eq!(manifest["layers"][0]["digest"], r.document.digest.as_str());
        }
    }

    // `imgpush sbom` prints the document, byte for byte.
    let imgpush = Imgpush::new();
    let reference = format!("{repo}:latest");
    for p in platforms() {
        let out = imgpush.run(&["sbom", &reference, "--platform", &p.to_string()]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(out.stdout, spdx(&p), "{p}");
        let out = imgpush.run(&[
            "sbom",
            &reference,
            "--platform",
            &p.to_string(),
            "--format",
            "spdx",
        ]);
        assert_eq!(out.stdout, spdx(&p), "{p}");
    }
    let out = imgpush.run(&["sbom", &reference]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("several platforms (linux/amd64, linux/arm64/v8); choose one with --platform"),
        "{err}"
    );
    let out = imgpush.run(&[
        "sbom",
        &reference,
        "--platform",
        "linux/amd64",
        "--format",
        "cyclonedx",
    ]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("has no CycloneDX SBOM for linux/amd64"),
        "{err}"
    );
    assert!(
        err.contains("application/vnd.dev.cosign.artifact.sig.v1+json, application/spdx+json, application/vnd.in-toto+json"),
        "{err}"
    );
    assert!(err.contains("imgpush inspect REF"), "the hint: {err}");
    let out = imgpush.run(&["sbom", &reference, "--platform", "linux/s390x"]);
    assert!(
        stderr(&out).contains("has no linux/s390x; it has: linux/amd64, linux/arm64/v8"),
        "{}",
        stderr(&out)
    );

    // `inspect` lists each platform's referrers.
    let out = imgpush.run(&["inspect", &reference]);
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    for r in set.referrers() {
        assert!(
            text.contains(&format!(
                "{} {} ({} bytes)",
                r.artifact_type,
                r.manifest.digest,
                r.manifest.bytes.len()
            )),
            "{text}"
        );
    }
    assert!(
        text.contains("  Referrers:   application/vnd.dev.cosign.artifact.sig.v1+json"),
        "{text}"
    );
    let v = json_of(&imgpush.run(&["inspect", "--json", &reference]).stdout);
    let counts: Vec<usize> = v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["referrers"].as_array().unwrap().len())
        .collect();
    assert_eq!(counts, [3, 2], "{v:#}");
    assert_eq!(
        v["manifests"][1]["referrers"][0]["artifactType"],
        media::SPDX_JSON
    );
    assert_eq!(
        v["manifests"][1]["referrers"][0]["digest"],
        set.images[1].referrers[0].manifest.digest.as_str()
    );
}

#[tokio::test]
async fn a_re_push_with_attachments_costs_what_a_no_op_push_costs() {
    let registry = Registry::start();
    let base_ref = registry.seed_busybox("base/busybox", &[]);
    let work = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let client = client(&registry.host, Some(cache.path()));
    let base = BaseSpec::Registry(base_ref.parse().unwrap());
    let plain = hello_set(&base, &One(client.clone()), work.path(), ImageFormat::Oci).await;
    let mut attached = plain.clone();
    attach_all(&mut attached, "r1");
    assert_eq!(
        plain.index.digest, attached.index.digest,
        "referrers are not in the index"
    );

    let requests_of = |set: &ImageSet, repo: &str, client: &Arc<Client>| {
        let (set, repo, client) = (set.clone(), repo.to_string(), client.clone());
        let registry = &registry;
        async move {
            let before = registry.requests().len();
            push(&client, &format!("{}/{repo}", registry.host), &set).await;
            registry.requests()[before..].to_vec()
        }
    };
    let plain_first = requests_of(&plain, "app/plain", &client).await;
    let plain_again = requests_of(&plain, "app/plain", &client).await;
    let attached_first = requests_of(&attached, "app/attached", &client).await;
    let attached_again = requests_of(&attached, "app/attached", &client).await;
    eprintln!(
        "requests: plain {} then {}; with 4 attachments {} then {}",
        plain_first.len(),
        plain_again.len(),
        attached_first.len(),
        attached_again.len()
    );
    assert_eq!(plain_again, ["HEAD /v2/app/plain/manifests/latest"]);
    assert_eq!(attached_again, ["HEAD /v2/app/attached/manifests/latest"]);

    // The same through the binary: the build's no-op push is 3 requests (tests/repeat.rs);
    // the push above is the sink's share of it (the tag HEAD), the same with attachments.

    // Another machine (no memo in its cache): the referrers are checked and found in
    // place; the referrers tags are not written again.
    let other_cache = tempfile::tempdir().unwrap();
    let fresh = self::client(&registry.host, Some(other_cache.path()));
    let lists_before: Vec<Vec<u8>> = attached
        .images
        .iter()
        .map(|i| {
            skopeo_raw(
                &format!(
                    "docker://{}/app/attached:{}",
                    registry.host,
                    fallback_tag(&i.manifest.digest)
                ),
                None,
            )
        })
        .collect();
    let elsewhere = requests_of(&attached, "app/attached", &fresh).await;
    eprintln!(
        "re-push without the memo: {} requests: {elsewhere:#?}",
        elsewhere.len()
    );
    let writes: Vec<&String> = elsewhere
        .iter()
        .filter(|r| r.starts_with("PUT") || r.starts_with("POST"))
        .collect();
    assert!(
        writes
            .iter()
            .all(|w| !w.contains("/manifests/sha256-") && !w.contains("/blobs/")),
        "{writes:#?}"
    );
    assert_eq!(
        writes.len(),
        4,
        "each artifact manifest PUT again: {writes:#?}"
    );
    let lists_after: Vec<Vec<u8>> = attached
        .images
        .iter()
        .map(|i| {
            skopeo_raw(
                &format!(
                    "docker://{}/app/attached:{}",
                    registry.host,
                    fallback_tag(&i.manifest.digest)
                ),
                None,
            )
        })
        .collect();
    assert_eq!(lists_before, lists_after);
    // …and then it knows, too.
    assert_eq!(
        requests_of(&attached, "app/attached", &fresh).await,
        ["HEAD /v2/app/attached/manifests/latest"]
    );

    // A changed attachment (a new revision in the provenance) on an unchanged image is
    // pushed although the tag already points at the index.
    let mut revised = plain.clone();
    attach_all(&mut revised, "r2");
    let again = requests_of(&revised, "app/attached", &client).await;
    let amd64 = &revised.images[0];
    assert!(
        again.contains(&format!(
            "PUT /v2/app/attached/manifests/{}",
            fallback_tag(&amd64.manifest.digest)
        )),
        "{again:#?}"
    );
    let list = json_of(&skopeo_raw(
        &format!(
            "docker://{}/app/attached:{}",
            registry.host,
            fallback_tag(&amd64.manifest.digest)
        ),
        None,
    ));
    let digests: Vec<&str> = list["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["digest"].as_str().unwrap())
        .collect();
    assert_eq!(
        digests,
        [
            attached.images[0].referrers[0].manifest.digest.as_str(),
            attached.images[0].referrers[1].manifest.digest.as_str(),
            amd64.referrers[1].manifest.digest.as_str(),
        ],
        "the SBOM was there; the new provenance is added, the old one kept"
    );
    assert_eq!(
        requests_of(&revised, "app/attached", &client).await,
        ["HEAD /v2/app/attached/manifests/latest"]
    );
}

#[tokio::test]
async fn a_registry_with_the_referrers_api_gets_no_referrers_tag() {
    let registry = Registry::start();
    registry.seed_busybox("base/busybox", &[]);
    let front = ReferrersFront::start(&registry.host);
    let work = tempfile::tempdir().unwrap();
    let client = client(&front.host, None);
    let base = BaseSpec::Registry(
        format!("{}/base/busybox:latest", front.host)
            .parse()
            .unwrap(),
    );
    let mut set = hello_set(&base, &One(client.clone()), work.path(), ImageFormat::Oci).await;
    attach_all(&mut set, "r1");
    let repo = format!("{}/app/api", front.host);
    push(&client, &repo, &set).await;

    let requests = front.requests();
    assert!(
        !requests.iter().any(|r| r.contains("/manifests/sha256-")),
        "no referrers tag read or written: {requests:#?}"
    );
    assert_eq!(registry.tags("app/api"), ["latest"]);

    // Read back through the API: every page, and the artifactType filter.
    let amd64 = &set.images[0];
    let listed = client
        .referrers("app/api", &amd64.manifest.digest, None)
        .await
        .unwrap()
        .expect("the front has the referrers API");
    let digests: Vec<&Digest> = listed.iter().map(|e| &e.digest).collect();
    let expected: Vec<&Digest> = amd64.referrers.iter().map(|r| &r.manifest.digest).collect();
    assert_eq!(digests, expected);
    assert!(
        front
            .requests()
            .iter()
            .any(|r| r.contains("/referrers/") && r.contains("last=")),
        "a second page was asked for: {:#?}",
        front.requests()
    );
    let sboms = client
        .referrers("app/api", &amd64.manifest.digest, Some(media::SPDX_JSON))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sboms.len(), 1);
    assert_eq!(sboms[0].digest, amd64.referrers[0].manifest.digest);

    let imgpush = Imgpush::new();
    let out = imgpush.run(&[
        "sbom",
        &format!("{repo}:latest"),
        "--platform",
        "linux/arm64",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout, spdx(&platforms()[1]));
    let text = stdout(&imgpush.run(&["inspect", &format!("{repo}:latest")]));
    assert_eq!(text.matches("Referrers:").count(), 2, "{text}");
    assert!(
        !front
            .requests()
            .iter()
            .any(|r| r.contains("/manifests/sha256-")),
        "reading used the API only: {:#?}",
        front.requests()
    );
}

#[tokio::test]
async fn layouts_and_oci_archives_hold_the_attachments() {
    let work = tempfile::tempdir().unwrap();
    // No registry: the base is the busybox layout itself.
    let base = BaseSpec::Layout {
        dir: busybox_layout().clone(),
        tag: Some("latest".into()),
        digest: None,
    };
    let nobody = One(client("127.0.0.1:1", None));
    let mut set = hello_set(&base, &nobody, work.path(), ImageFormat::Oci).await;
    attach_all(&mut set, "r1");
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("layout");
    let tags = vec!["latest".to_string()];
    let cx = PublishContext {
        set: &set,
        tags: &tags,
        reporter: &NoopReporter,
        jobs: 2,
    };
    LayoutSink { dir: dir.clone() }.publish(&cx).await.unwrap();
    let index_json = std::fs::read(dir.join("index.json")).unwrap();
    let index = json_of(&index_json);
    let names: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    let tag_of = |i: usize| fallback_tag(&set.images[i].manifest.digest);
    assert_eq!(names, ["latest", tag_of(0).as_str(), tag_of(1).as_str()]);
    for (i, image) in set.images.iter().enumerate() {
        let list = json_of(&skopeo_raw(
            &format!("oci:{}:{}", dir.display(), tag_of(i)),
            None,
        ));
        let digests: Vec<&str> = list["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["digest"].as_str().unwrap())
            .collect();
        let expected: Vec<&str> = image
            .referrers
            .iter()
            .map(|r| r.manifest.digest.as_str())
            .collect();
        assert_eq!(digests, expected);
        for r in &image.referrers {
            for blob in [&r.manifest.digest, &r.document.digest] {
                let path = dir.join("blobs/sha256").join(blob.hex());
                assert_eq!(Digest::of(&std::fs::read(&path).unwrap()), *blob);
            }
            let m = json_of(
                &std::fs::read(dir.join("blobs/sha256").join(r.manifest.digest.hex())).unwrap(),
            );
            assert_eq!(m["subject"]["digest"], image.manifest.digest.as_str());
        }
    }
    assert!(
        dir.join("blobs/sha256")
            .join(&imgpush::oci::EMPTY_JSON_DIGEST[7..])
            .exists()
    );
    // One platform alone (the set's top document is its manifest) keeps its referrers, and
    // umoci, which shares no code with imgpush, unpacks the image as before.
    let single = ImageSet {
        index: set.images[0].manifest.clone(),
        images: vec![set.images[0].clone()],
    };
    let one = out.path().join("one");
    let amd64_tags = vec!["amd64".to_string()];
    LayoutSink { dir: one.clone() }
        .publish(&PublishContext {
            set: &single,
            tags: &amd64_tags,
            reporter: &NoopReporter,
            jobs: 2,
        })
        .await
        .unwrap();
    let list = json_of(&skopeo_raw(
        &format!("oci:{}:{}", one.display(), tag_of(0)),
        None,
    ));
    assert_eq!(list["manifests"].as_array().unwrap().len(), 2);
    require("umoci", "umoci");
    let bundle = out.path().join("bundle");
    let unpack = std::process::Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:amd64", one.display()))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        unpack.status.success(),
        "{}",
        String::from_utf8_lossy(&unpack.stderr)
    );
    assert!(bundle.join("rootfs/app/hello").exists());

    // Written again: nothing doubles.
    LayoutSink { dir: dir.clone() }.publish(&cx).await.unwrap();
    assert_eq!(std::fs::read(dir.join("index.json")).unwrap(), index_json);

    // Read back; `oci-layout:DIR` without a tag still means the one image.
    let imgpush = Imgpush::new();
    let layout = format!("oci-layout:{}", dir.display());
    let sbom = imgpush.run(&["sbom", &layout, "--platform", "linux/amd64"]);
    assert!(sbom.status.success(), "{}", stderr(&sbom));
    assert_eq!(sbom.stdout, spdx(&platforms()[0]));
    let text = stdout(&imgpush.run(&["inspect", &layout]));
    assert_eq!(text.matches("Referrers:").count(), 2, "{text}");

    // oras' way: an untagged manifest in index.json whose subject is the image.
    let amd64 = &set.images[0].manifest;
    let theirs = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "artifactType": "application/vnd.example.note",
        "config": {"mediaType": media::OCI_EMPTY, "digest": imgpush::oci::EMPTY_JSON_DIGEST, "size": 2},
        "layers": [],
        "subject": {"mediaType": media::OCI_MANIFEST, "digest": amd64.digest.to_string(), "size": amd64.bytes.len()},
        "annotations": {"org.example": "theirs"},
    }))
    .unwrap();
    let theirs_digest = Digest::of(&theirs);
    std::fs::write(dir.join("blobs/sha256").join(theirs_digest.hex()), &theirs).unwrap();
    let mut index = json_of(&std::fs::read(dir.join("index.json")).unwrap());
    index["manifests"].as_array_mut().unwrap().push(json!({
        "mediaType": media::OCI_MANIFEST,
        "digest": theirs_digest.to_string(),
        "size": theirs.len(),
    }));
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    let v = json_of(
        &imgpush
            .run(&["inspect", "--json", &format!("{layout}:latest")])
            .stdout,
    );
    let found = v["manifests"][0]["referrers"].as_array().unwrap();
    assert_eq!(found.len(), 3, "{v:#}");
    assert_eq!(found[2]["digest"], theirs_digest.as_str());
    assert_eq!(found[2]["artifactType"], "application/vnd.example.note");
    assert_eq!(found[2]["annotations"]["org.example"], "theirs");
    assert_eq!(v["manifests"][1]["referrers"].as_array().unwrap().len(), 2);

    // An OCI archive is that layout in one file.
    let tarball = out.path().join("hello.tar");
    ArchiveSink {
        tarball: imgpush::plan::Tarball {
            path: tarball.clone(),
            kind: imgpush::plan::TarballKind::OciArchive,
        },
        mtime: 0,
    }
    .publish(&cx)
    .await
    .unwrap();
    let sbom = imgpush.run(&[
        "sbom",
        &format!("oci-archive:{}", tarball.display()),
        "--platform",
        "linux/arm64",
    ]);
    assert!(sbom.status.success(), "{}", stderr(&sbom));
    assert_eq!(sbom.stdout, spdx(&platforms()[1]));

    // Docker schema2 images take no attachments.
    let mut docker = hello_set(&base, &nobody, work.path(), ImageFormat::Docker).await;
    let e = docker
        .attach(
            &platforms()[0],
            &Attachment::new(media::SPDX_JSON, b"{}".to_vec()),
        )
        .unwrap_err();
    assert!(matches!(e, ImageError::AttachToDocker { .. }), "{e}");
    assert!(e.to_string().contains("--format docker"), "{e}");
    let e = set
        .attach(
            &"linux/riscv64".parse().unwrap(),
            &Attachment::new(media::SPDX_JSON, b"{}".to_vec()),
        )
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("it has: linux/amd64, linux/arm64/v8"),
        "{e}"
    );
}
