use super::config::compose_config;
use super::{
    BaseImage, ConfigBlob, Document, ImageError, ImageFormat, ImageSet, ImageSettings, LayerRef,
    PlatformImage, descriptor,
};
use crate::layer::Layer;
use crate::oci::{Platform, annotation, canonical_json};
use oci_spec::image::{Descriptor, ImageIndexBuilder, ImageManifestBuilder};
use std::collections::HashMap;

/// What to compose: the base, and for each of its selected platforms the layers to add.
pub struct ComposeInput<'a> {
    pub base: &'a BaseImage,
    /// Layers per platform, in the order they are stacked on the base.
    pub layers: &'a [(Platform, Vec<Layer>)],
    pub settings: &'a ImageSettings,
    pub format: ImageFormat,
}

/// Builds every platform's config and manifest and the index over them. The index lists
/// platforms in the order of `input.layers`.
pub fn compose(input: &ComposeInput<'_>) -> Result<ImageSet, ImageError> {
    let format = input.format;
    let mut images = Vec::new();
    let mut index_entries = Vec::new();
    for (platform, layers) in input.layers {
        let base = input
            .base
            .platforms
            .iter()
            .find(|b| &b.platform == platform)
            .ok_or_else(|| ImageError::BaseManifest {
                platform: platform.clone(),
                message: "this platform was not loaded from the base".into(),
            })?;
        let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.to_string()).collect();
        let history: Vec<String> = layers.iter().map(|l| l.created_by.clone()).collect();
        let config =
            compose_config(&base.config, &diff_ids, &history, input.settings).ok_or_else(|| {
                ImageError::BaseConfig {
                    platform: platform.clone(),
                }
            })?;
        let config = Document::new(canonical_json(&config), format.config());

        let mut layer_refs: Vec<LayerRef> = base
            .manifest
            .layers()
            .iter()
            .map(|d| {
                let mut d = d.clone();
                d.set_media_type(format.layer(d.media_type().as_ref()).into());
                LayerRef::Base(d)
            })
            .collect();
        layer_refs.extend(layers.iter().cloned().map(LayerRef::Ours));
        let descriptors: Vec<Descriptor> = layer_refs
            .iter()
            .map(|l| match l {
                LayerRef::Base(d) => d.clone(),
                LayerRef::Ours(l) => descriptor(format.layer(l.media_type), &l.digest, l.size),
            })
            .collect();

        let annotations = annotations(
            format,
            input.base.name.as_deref(),
            &base.manifest_digest.to_string(),
            input.settings,
        );
        let mut manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(format.manifest())
            .config(config.descriptor())
            .layers(descriptors)
            .build()
            .expect("all required manifest fields are set");
        manifest.set_annotations(annotations);
        let manifest = Document::new(canonical_json(&manifest), format.manifest());

        let mut entry = manifest.descriptor();
        entry.set_platform(Some(platform.to_oci(base.descriptor.platform().as_ref())));
        index_entries.push(entry);
        images.push(PlatformImage {
            platform: platform.clone(),
            config: ConfigBlob::Inline(config),
            manifest,
            layers: layer_refs,
            source: base.source.clone(),
            referrers: Vec::new(),
        });
    }

    let annotations = annotations(
        format,
        input.base.name.as_deref(),
        &input.base.digest.to_string(),
        input.settings,
    );
    let mut index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(format.index())
        .manifests(index_entries)
        .build()
        .expect("all required index fields are set");
    index.set_annotations(annotations);
    let index = Document::new(canonical_json(&index), format.index());
    Ok(ImageSet { index, images })
}

/// The base annotations plus the user's; none for Docker schema2, which has no
/// annotations.
fn annotations(
    format: ImageFormat,
    base_name: Option<&str>,
    base_digest: &str,
    settings: &ImageSettings,
) -> Option<HashMap<String, String>> {
    if format == ImageFormat::Docker {
        return None;
    }
    let mut a = HashMap::new();
    if let Some(name) = base_name {
        a.insert(annotation::BASE_NAME.to_string(), name.to_string());
    }
    a.insert(annotation::BASE_DIGEST.to_string(), base_digest.to_string());
    a.extend(settings.annotations.clone());
    Some(a)
}
