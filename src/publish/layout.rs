use super::{PublishContext, PublishError, Published, Sink};
use crate::image::{BlobRef, Document};
use crate::oci::{Digest, annotation, canonical_json, referrers};
use crate::report::{BlobOutcome, Event, Stage};
use futures_util::future::BoxFuture;
use futures_util::{StreamExt, TryStreamExt};
use oci_spec::image::{Descriptor, ImageIndex, ImageIndexBuilder};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes an OCI image layout: `oci-layout`, `index.json` (one entry per tag, named with
/// `org.opencontainers.image.ref.name`) and every blob, the base's included, so the
/// directory is self-contained. Entries for other tags already in the layout are kept.
pub struct LayoutSink {
    pub dir: PathBuf,
}

impl Sink for LayoutSink {
    fn describe(&self) -> String {
        format!("oci-layout:{}", self.dir.display())
    }

    fn publish<'a>(
        &'a self,
        cx: &'a PublishContext<'a>,
    ) -> BoxFuture<'a, Result<Published, PublishError>> {
        Box::pin(self.write(cx))
    }
}

impl LayoutSink {
    fn io(&self) -> impl Fn(std::io::Error) -> PublishError + '_ {
        |source| PublishError::LayoutIo {
            dir: self.dir.clone(),
            source,
        }
    }

    fn blobs_dir(&self) -> PathBuf {
        self.dir.join("blobs").join("sha256")
    }

    async fn write(&self, cx: &PublishContext<'_>) -> Result<Published, PublishError> {
        cx.reporter.event(Event::StageStarted(Stage::WriteLayout {
            dir: self.dir.clone(),
        }));
        self.write_quiet(cx).await
    }

    /// Writes the layout without announcing it (as the staging step of another output).
    pub(crate) async fn write_quiet(
        &self,
        cx: &PublishContext<'_>,
    ) -> Result<Published, PublishError> {
        std::fs::create_dir_all(self.blobs_dir()).map_err(self.io())?;
        std::fs::write(
            self.dir.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .map_err(self.io())?;
        let mut blobs = cx.set.blobs();
        for blob in cx.set.referrer_blobs() {
            if !blobs.iter().any(|b| b.digest == blob.digest) {
                blobs.push(blob);
            }
        }
        futures_util::stream::iter(blobs)
            .map(|blob| self.write_blob(cx, blob))
            .buffer_unordered(cx.jobs)
            .try_collect::<Vec<()>>()
            .await?;
        for image in &cx.set.images {
            self.write_document(&image.manifest)?;
        }
        for referrer in cx.set.referrers() {
            self.write_document(&referrer.manifest)?;
        }
        if !cx.set.is_single() {
            self.write_document(&cx.set.index)?;
        }
        let mut named: Vec<(String, Descriptor)> = cx
            .tags
            .iter()
            .map(|t| (t.clone(), cx.set.index.descriptor()))
            .collect();
        named.extend(self.referrers_tags(cx.set)?);
        self.update_index_json(&named)?;
        Ok(Published {
            reference: format!("oci-layout:{}@{}", self.dir.display(), cx.set.index.digest),
            repository: format!("oci-layout:{}", self.dir.display()),
            names: None,
        })
    }

    fn write_document(&self, doc: &Document) -> Result<(), PublishError> {
        let path = self.blobs_dir().join(doc.digest.hex());
        if !path.exists() {
            write_atomic(&path, &doc.bytes).map_err(self.io())?;
        }
        Ok(())
    }

    async fn write_blob(&self, cx: &PublishContext<'_>, blob: BlobRef) -> Result<(), PublishError> {
        let dest = self.blobs_dir().join(blob.digest.hex());
        let progress = cx
            .reporter
            .blob_started(&blob.digest, blob.size, &super::blob_label(&blob));
        // Blobs are only ever renamed into place complete, so a present file of the right
        // size is the blob.
        if std::fs::metadata(&dest)
            .map(|m| m.len() == blob.size)
            .unwrap_or(false)
        {
            cx.reporter.blob_done(progress, BlobOutcome::Existing);
            return Ok(());
        }
        if let Some(bytes) = blob.source.in_memory() {
            write_atomic(&dest, &bytes).map_err(self.io())?;
        } else if let Some(src) = blob.source.local_path(&blob.digest) {
            copy_verified(&src, &dest, &blob.digest).map_err(|m| self.layout_err(m))?;
        } else {
            let fetch_err = |source| PublishError::LayoutFetch {
                digest: blob.digest.clone(),
                dir: self.dir.clone(),
                source: Box::new(source),
            };
            blob.source
                .download_to(&blob.digest, blob.size, &dest, &|n| {
                    cx.reporter.blob_progress(progress, n)
                })
                .await
                .map_err(fetch_err)?;
        }
        cx.reporter.blob_done(progress, BlobOutcome::Written);
        Ok(())
    }

    fn layout_err(&self, message: String) -> PublishError {
        PublishError::Layout {
            dir: self.dir.clone(),
            message,
        }
    }

    /// The referrers tag (`sha256-<hex>`, as in a registry without the referrers API; the
    /// image-layout spec has nothing of its own, and regclient stores referrers in layouts
    /// this way) for each platform image with referrers: the list already in the layout
    /// under that name, with ours added and everything else kept. Its blob is written here;
    /// the entry to name it is returned. oras finds these too (it reads every manifest the
    /// layout's index.json reaches, and their `subject`s).
    fn referrers_tags(
        &self,
        set: &crate::image::ImageSet,
    ) -> Result<Vec<(String, Descriptor)>, PublishError> {
        let existing = self.read_index_json()?;
        let mut out = Vec::new();
        for image in set.images.iter().filter(|i| !i.referrers.is_empty()) {
            let tag = referrers::fallback_tag(&image.manifest.digest);
            let current = match existing
                .iter()
                .find(|d| name_of(d).as_deref() == Some(&tag))
            {
                Some(d) => {
                    let digest = Digest::try_from(d.digest())
                        .map_err(|e| self.layout_err(format!("index.json entry {tag}: {e}")))?;
                    let path = self.blobs_dir().join(digest.hex());
                    let bytes = std::fs::read(&path).map_err(self.io())?;
                    if Digest::of(&bytes) != digest {
                        return Err(self.layout_err(format!(
                            "{} does not hash to {digest}, which index.json names {tag}",
                            path.display()
                        )));
                    }
                    Some(bytes)
                }
                None => None,
            };
            let ours: Vec<serde_json::Value> =
                image.referrers.iter().map(|r| r.list_entry()).collect();
            let merged = referrers::merge(current.as_deref(), &ours)
                .map_err(|m| self.layout_err(format!("{tag} is not a referrers list: {m}")))?;
            let Some(bytes) = merged.bytes else { continue };
            let doc = Document::new(bytes, crate::oci::media::OCI_INDEX);
            self.write_document(&doc)?;
            out.push((tag, doc.descriptor()));
        }
        Ok(out)
    }

    fn read_index_json(&self) -> Result<Vec<Descriptor>, PublishError> {
        let path = self.dir.join("index.json");
        match std::fs::read(&path) {
            Ok(bytes) => Ok(serde_json::from_slice::<ImageIndex>(&bytes)
                .map_err(|e| self.layout_err(format!("the existing index.json is not valid ({e}); remove it or choose another directory")))?
                .manifests()
                .clone()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(self.io()(e)),
        }
    }

    /// Rewrites index.json with `named` (one entry per name, annotated with
    /// `org.opencontainers.image.ref.name`) in place of the entry of that name (new names
    /// last); every other entry stays.
    fn update_index_json(&self, named: &[(String, Descriptor)]) -> Result<(), PublishError> {
        let path = self.dir.join("index.json");
        let mut entries = self.read_index_json()?;
        for (name, descriptor) in named {
            let mut d = descriptor.clone();
            d.set_annotations(Some(HashMap::from([(
                annotation::REF_NAME.to_string(),
                name.clone(),
            )])));
            // In the place the name had, so that writing the same again changes nothing.
            let same = |e: &Descriptor| name_of(e).as_ref() == Some(name);
            match entries.iter().position(same) {
                Some(at) => {
                    entries[at] = d;
                    let mut seen = 0;
                    entries.retain(|e| {
                        !same(e) || {
                            seen += 1;
                            seen == 1
                        }
                    });
                }
                None => entries.push(d),
            }
        }
        let out = ImageIndexBuilder::default()
            .schema_version(2u32)
            .media_type(crate::oci::media::OCI_INDEX)
            .manifests(entries)
            .build()
            .expect("all required index fields are set");
        write_atomic(&path, &canonical_json(&out)).map_err(self.io())
    }
}

fn name_of(d: &Descriptor) -> Option<String> {
    d.annotations()
        .as_ref()
        .and_then(|a| a.get(annotation::REF_NAME))
        .cloned()
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("blob paths have a parent");
    let mut tmp = super::output_temp_file(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Copies a blob file, checking on the way that it still hashes to its digest.
fn copy_verified(src: &Path, dest: &Path, digest: &Digest) -> Result<(), String> {
    let dir = dest.parent().expect("blob paths have a parent");
    let mut input =
        std::fs::File::open(src).map_err(|e| format!("reading {}: {e}", src.display()))?;
    let tmp = super::output_temp_file(dir).map_err(|e| e.to_string())?;
    let mut out = crate::oci::Sha256Writer::new(std::io::BufWriter::new(
        tmp.reopen().map_err(|e| e.to_string())?,
    ));
    std::io::copy(&mut input, &mut out).map_err(|e| format!("copying {}: {e}", src.display()))?;
    let (mut w, actual, _) = out.finish();
    w.flush().map_err(|e| e.to_string())?;
    if &actual != digest {
        return Err(format!(
            "{} does not hash to {digest} (got {actual})",
            src.display()
        ));
    }
    tmp.persist(dest).map_err(|e| e.error.to_string())?;
    Ok(())
}
