//! Publishing order: blobs → platform manifests → index → tags. When the index is refused,
//! the platform manifests are already in the registry but no tag points anywhere.

mod support;

use imgpush::base::{self, ClientFor};
use imgpush::image::{ComposeInput, Document, ImageSettings, compose};
use imgpush::layer::{EntrySource, LayerEntry, LayerOptions, write_layer};
use imgpush::oci::{Digest, Platform, Target, media};
use imgpush::plan::BaseSpec;
use imgpush::publish::{PublishContext, PublishError, RegistrySink, Sink};
use imgpush::registry::{Client, ClientSettings};
use imgpush::report::{Event, RecordingReporter, Stage};
use std::sync::Arc;
use support::*;

struct One(Arc<Client>);
impl ClientFor for One {
    fn client_for(&self, _registry: &str) -> Arc<Client> {
        self.0.clone()
    }
}

#[tokio::test]
async fn a_refused_index_leaves_no_tag() {
    let registry = Registry::start();
    let base_ref = registry.seed_busybox("base/busybox", &[]);
    let reporter = Arc::new(RecordingReporter::default());
    let client = Arc::new(Client::new(
        ClientSettings {
            cache: None,
            registry: registry.host.clone(),
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
        reporter.clone(),
    ));
    let work = tempfile::tempdir().unwrap();
    let opened = base::open(
        &BaseSpec::Registry(base_ref.parse().unwrap()),
        &One(client.clone()),
        work.path(),
        base::OpenContext {
            cache: None,
            archive: &base::debian::ArchiveOverrides::default(),
            reporter: &imgpush::report::NoopReporter,
        },
    )
    .await
    .unwrap();
    assert!(opened.source().mount_from().is_some(), "a registry base");
    let amd64: Platform = "linux/amd64".parse().unwrap();
    let base_image = opened.select(std::slice::from_ref(&amd64)).await.unwrap();
    let layer = write_layer(
        vec![LayerEntry::file(
            "/app/hello",
            EntrySource::Path(hello().amd64.clone()),
            0o755,
        )],
        "test".into(),
        LayerOptions::default(),
        work.path(),
    )
    .unwrap();
    let mut set = compose(&ComposeInput {
        base: &base_image,
        layers: &[(amd64, vec![layer])],
        settings: &ImageSettings::default(),
        format: Default::default(),
    })
    .unwrap();

    // An index that also references a manifest the registry does not have: distribution
    // refuses it with MANIFEST_BLOB_UNKNOWN.
    let mut index: serde_json::Value = serde_json::from_slice(&set.index.bytes).unwrap();
    let mut ghost = index["manifests"][0].clone();
    ghost["digest"] = Digest::of(b"no such manifest").to_string().into();
    index["manifests"].as_array_mut().unwrap().push(ghost);
    set.index = Document::new(serde_json::to_vec(&index).unwrap(), media::OCI_INDEX);

    let repo: imgpush::oci::Repository = format!("{}/app/order", registry.host).parse().unwrap();
    let sink = RegistrySink {
        client: client.clone(),
        repo: repo.clone(),
    };
    let tags = vec!["v1".to_string()];
    let cx = PublishContext {
        set: &set,
        tags: &tags,
        reporter: reporter.as_ref(),
        jobs: 4,
    };
    let err = sink.publish(&cx).await.unwrap_err();
    assert!(matches!(err, PublishError::Manifest { .. }), "{err}");
    assert!(
        format!("{:?}", err).contains("MANIFEST_BLOB_UNKNOWN"),
        "{err:?}"
    );

    // The child manifest went in first; the tag never did.
    let child = &set.images[0].manifest.digest;
    assert_eq!(
        client
            .manifest_digest("app/order", &Target::Digest(child.clone()))
            .await
            .unwrap()
            .as_ref(),
        Some(child)
    );
    assert!(registry.tags("app/order").is_empty());
    // The push started and never finished; no tag was reported written.
    let events = reporter.events();
    let push = Stage::Push {
        repo: repo.to_string(),
    };
    assert!(
        events.contains(&Event::StageStarted(push.clone())),
        "{events:?}"
    );
    assert!(!events.contains(&Event::StageFinished(push)), "{events:?}");
    assert!(
        !events.iter().any(|e| matches!(e, Event::Tagged { .. })),
        "{events:?}"
    );
    // Base layers were mounted, ours uploaded, each once.
    let outcomes = reporter.outcomes();
    assert!(
        outcomes
            .iter()
            .any(|(_, o)| *o == imgpush::report::BlobOutcome::Mounted)
    );
    let mut digests: Vec<_> = outcomes.iter().map(|(d, _)| d.clone()).collect();
    digests.sort();
    digests.dedup();
    assert_eq!(digests.len(), outcomes.len());
}
