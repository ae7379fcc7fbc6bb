use super::PlanError;
use super::origin::Origin;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Settings from a file: `imgpush.toml`, `[package.metadata.imgpush]` or
/// `[workspace.metadata.imgpush]` — all the same keys, in kebab-case. Unknown keys are errors.
/// These are the words as written; [`super::load::from_file`] parses them into
/// [`super::low::LowSettings`].
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileSettings {
    pub repo: Option<String>,
    pub tags: Option<Vec<String>>,
    pub platforms: Option<Platforms>,
    pub base: Option<String>,
    /// `{ "linux/amd64" = "dist/hello-amd64", … }`.
    pub artifacts: Option<BTreeMap<String, String>>,
    pub dest: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Option<BTreeMap<String, String>>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub expose: Option<Vec<String>>,
    pub labels: Option<BTreeMap<String, String>>,
    pub annotations: Option<BTreeMap<String, String>>,
    pub files: Option<Vec<FileEntry>>,
    #[serde(rename = "static")]
    pub bundle_dir: Option<String>,
    pub owner: Option<String>,
    pub ldflags: Option<String>,
    pub go_tags: Option<String>,
    pub oci_layout: Option<String>,
    pub tarball: Option<String>,
    pub dist: Option<String>,
    pub format: Option<String>,
    pub sbom: Option<String>,
    pub provenance: Option<String>,
    pub compression: Option<String>,
    pub epoch: Option<String>,
    pub insecure_registries: Option<Vec<String>>,
    pub jobs: Option<usize>,
    pub retries: Option<u32>,
    pub timeout: Option<u64>,
    pub json: Option<bool>,
    // Rust builds.
    /// The binary of a package with several (`--bin` wins); read from the package's own
    /// `[package.metadata.imgpush]` when the binary is chosen.
    pub bin: Option<String>,
    pub features: Option<Vec<String>>,
    pub profile: Option<String>,
    pub libc: Option<String>,
    pub glibc_version: Option<String>,
    pub builder: Option<String>,
    pub build_std: Option<BuildStdSetting>,
    pub toolchain_cache: Option<String>,
}

/// An extra file: `{ src = "deploy/app.toml", dest = "/etc/app.toml", mode = "0600",
/// owner = "1000:1000" }`, the same as `--file SRC:DST[:MODE[:UID:GID]]`.
#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub src: String,
    pub dest: String,
    /// Octal, as a string: `"0644"`.
    #[serde(default)]
    pub mode: Option<String>,
    /// Numeric `"UID:GID"` of every entry [default: `"0:0"`].
    #[serde(default)]
    pub owner: Option<String>,
}

/// `platforms = ["linux/amd64", "linux/arm64"]` or `platforms = "all"`.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum Platforms {
    List(Vec<String>),
    One(String),
}

/// `build-std = true | false | "auto"`.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum BuildStdSetting {
    Flag(bool),
    Word(String),
}

impl FileSettings {
    /// Loads `dir/imgpush.toml` if it exists, with its path.
    pub fn load(dir: &Path) -> Result<Option<(FileSettings, PathBuf)>, PlanError> {
        let path = dir.join("imgpush.toml");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(PlanError::ReadFile { path, source }),
        };
        let config: FileSettings = toml::from_str(&text).map_err(|e| PlanError::ParseFile {
            path: path.clone(),
            message: e.to_string().trim().to_string(),
        })?;
        Ok(Some((config, path)))
    }

    /// Reads an `imgpush` table from Cargo metadata (`[package.metadata.imgpush]`);
    /// `origin` names it in a parse error.
    pub fn from_metadata(
        value: &serde_json::Value,
        origin: &Origin,
    ) -> Result<Option<FileSettings>, PlanError> {
        match value.get("imgpush") {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(table) => serde_json::from_value(table.clone())
                .map(Some)
                .map_err(|e| PlanError::ParseFile {
                    path: origin.to_string().into(),
                    message: e.to_string(),
                }),
        }
    }
}

/// For serde's ``unknown field `tgas`, expected one of `repo`, `tags`, …``: the known key
/// nearest to the unknown one (by edit distance), if one is near enough to be a misspelling.
pub(crate) fn nearest_key(message: &str) -> Option<String> {
    let rest = &message[message.find("unknown field `")? + "unknown field `".len()..];
    let (unknown, rest) = rest.split_once('`')?;
    let expected = rest.split_once("expected")?.1;
    let known = expected.split('`').skip(1).step_by(2);
    let limit = 2.max(unknown.chars().count() / 3);
    known
        .map(|k| (edit_distance(unknown, k), k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.to_string())
}

/// Levenshtein distance, counting a swap of two neighbours as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_key_is_suggested() {
        let m = "unknown field `tgas`, expected one of `repo`, `tags`, `platforms`";
        assert_eq!(nearest_key(m).as_deref(), Some("tags"));
        let m = "unknown field `platfrom`, expected one of `repo`, `tags`, `platforms`";
        assert_eq!(nearest_key(m).as_deref(), Some("platforms"));
        let m = "unknown field `zzzzzz`, expected one of `repo`, `tags`";
        assert_eq!(nearest_key(m), None);
    }

    #[test]
    fn metadata_tables_and_unknown_keys() {
        let origin = Origin::Cargo {
            manifest: "/ws/Cargo.toml".into(),
            workspace: true,
        };
        let none = FileSettings::from_metadata(&serde_json::json!({}), &origin).unwrap();
        assert!(none.is_none());
        let some = FileSettings::from_metadata(
            &serde_json::json!({"imgpush": {"user": "65532", "oci-layout": "out"}}),
            &origin,
        )
        .unwrap()
        .unwrap();
        assert_eq!(some.user.as_deref(), Some("65532"));
        let err =
            FileSettings::from_metadata(&serde_json::json!({"imgpush": {"usr": "1"}}), &origin)
                .unwrap_err()
                .to_string();
        assert!(
            err.contains("/ws/Cargo.toml [workspace.metadata.imgpush]") && err.contains("usr"),
            "{err}"
        );
    }
}
