use super::ConfigError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Settings from a file: `imgpush.toml`, `[package.metadata.imgpush]` or
/// `[workspace.metadata.imgpush]` — all the same keys, in kebab-case. Unknown keys are errors.
/// Relative paths are made absolute against the file's directory when loaded, so layers of
/// settings can be merged freely.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
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
    pub static_dir: Option<String>,
    pub owner: Option<String>,
    pub ldflags: Option<String>,
    pub go_tags: Option<String>,
    pub oci_layout: Option<String>,
    pub tarball: Option<String>,
    pub format: Option<String>,
    pub compression: Option<String>,
    pub epoch: Option<String>,
    pub insecure_registries: Option<Vec<String>>,
    pub jobs: Option<usize>,
    pub retries: Option<u32>,
    pub timeout: Option<u64>,
    pub json: Option<bool>,
    // Rust builds.
    pub features: Option<Vec<String>>,
    pub profile: Option<String>,
    pub libc: Option<String>,
    pub glibc_version: Option<String>,
    pub builder: Option<String>,
    pub build_std: Option<BuildStdSetting>,
    /// Where this layer of settings came from, for messages.
    #[serde(skip)]
    pub origin: Option<String>,
}

/// An extra file: `{ src = "deploy/app.toml", dest = "/etc/app.toml", mode = "0644" }`.
#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub src: String,
    pub dest: String,
    #[serde(default)]
    pub mode: Option<String>,
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

fn absolute(dir: &Path, p: &str) -> String {
    dir.join(p).to_string_lossy().to_string()
}

impl FileConfig {
    /// Loads `dir/imgpush.toml` if it exists.
    pub fn load(dir: &Path) -> Result<FileConfig, ConfigError> {
        let path = dir.join("imgpush.toml");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileConfig::default()),
            Err(source) => return Err(ConfigError::ReadFile { path, source }),
        };
        let config: FileConfig = toml::from_str(&text).map_err(|e| ConfigError::ParseFile {
            path: path.clone(),
            message: e.to_string().trim().to_string(),
        })?;
        Ok(config.anchored(dir, path.display().to_string()))
    }

    /// Reads an `imgpush` table from Cargo metadata (`[package.metadata.imgpush]`).
    pub fn from_metadata(
        value: &serde_json::Value,
        dir: &Path,
        origin: String,
    ) -> Result<FileConfig, ConfigError> {
        match value.get("imgpush") {
            None | Some(serde_json::Value::Null) => Ok(FileConfig::default()),
            Some(table) => {
                let config: FileConfig =
                    serde_json::from_value(table.clone()).map_err(|e| ConfigError::ParseFile {
                        path: origin.clone().into(),
                        message: e.to_string(),
                    })?;
                Ok(config.anchored(dir, origin))
            }
        }
    }

    /// Makes relative paths absolute against `dir` and records the origin.
    fn anchored(mut self, dir: &Path, origin: String) -> FileConfig {
        if let Some(a) = &mut self.artifacts {
            for v in a.values_mut() {
                *v = absolute(dir, v);
            }
        }
        if let Some(files) = &mut self.files {
            for f in files {
                f.src = absolute(dir, &f.src);
            }
        }
        if let Some(d) = &mut self.static_dir {
            *d = absolute(dir, d);
        }
        if let Some(o) = &mut self.oci_layout {
            *o = absolute(dir, o);
        }
        if let Some(t) = &mut self.tarball {
            *t = absolute(dir, t);
        }
        if let Some(b) = &mut self.base {
            for prefix in ["oci-layout:", "oci-archive:"] {
                if let Some(rest) = b.strip_prefix(prefix) {
                    *b = format!("{prefix}{}", absolute(dir, rest));
                    break;
                }
            }
        }
        self.origin = Some(origin);
        self
    }

    /// `self` over `lower`: a value set here wins; maps are merged key by key.
    pub fn over(self, lower: FileConfig) -> FileConfig {
        fn map(
            a: Option<BTreeMap<String, String>>,
            b: Option<BTreeMap<String, String>>,
        ) -> Option<BTreeMap<String, String>> {
            match (a, b) {
                (Some(a), Some(mut b)) => {
                    b.extend(a);
                    Some(b)
                }
                (a, b) => a.or(b),
            }
        }
        FileConfig {
            repo: self.repo.or(lower.repo),
            tags: self.tags.or(lower.tags),
            platforms: self.platforms.or(lower.platforms),
            base: self.base.or(lower.base),
            artifacts: self.artifacts.or(lower.artifacts),
            dest: self.dest.or(lower.dest),
            entrypoint: self.entrypoint.or(lower.entrypoint),
            cmd: self.cmd.or(lower.cmd),
            env: map(self.env, lower.env),
            workdir: self.workdir.or(lower.workdir),
            user: self.user.or(lower.user),
            expose: self.expose.or(lower.expose),
            labels: map(self.labels, lower.labels),
            annotations: map(self.annotations, lower.annotations),
            files: self.files.or(lower.files),
            static_dir: self.static_dir.or(lower.static_dir),
            owner: self.owner.or(lower.owner),
            ldflags: self.ldflags.or(lower.ldflags),
            go_tags: self.go_tags.or(lower.go_tags),
            oci_layout: self.oci_layout.or(lower.oci_layout),
            tarball: self.tarball.or(lower.tarball),
            format: self.format.or(lower.format),
            compression: self.compression.or(lower.compression),
            epoch: self.epoch.or(lower.epoch),
            insecure_registries: self.insecure_registries.or(lower.insecure_registries),
            jobs: self.jobs.or(lower.jobs),
            retries: self.retries.or(lower.retries),
            timeout: self.timeout.or(lower.timeout),
            json: self.json.or(lower.json),
            features: self.features.or(lower.features),
            profile: self.profile.or(lower.profile),
            libc: self.libc.or(lower.libc),
            glibc_version: self.glibc_version.or(lower.glibc_version),
            builder: self.builder.or(lower.builder),
            build_std: self.build_std.or(lower.build_std),
            origin: self.origin.or(lower.origin),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layering_and_paths() {
        let upper: FileConfig = toml::from_str("tags = [\"a\"]\n[env]\nX = \"1\"\n").unwrap();
        let lower: FileConfig = serde_json::from_value(serde_json::json!({
            "tags": ["b"], "user": "65532", "env": {"X": "0", "Y": "2"}, "oci-layout": "out",
            "files": [{"src": "conf/app.toml", "dest": "/etc/app.toml"}]
        }))
        .unwrap();
        let lower = lower.anchored(Path::new("/ws"), "Cargo.toml".into());
        let merged = upper.over(lower);
        assert_eq!(merged.tags, Some(vec!["a".to_string()]));
        assert_eq!(merged.user.as_deref(), Some("65532"));
        let env = merged.env.unwrap();
        assert_eq!((env["X"].as_str(), env["Y"].as_str()), ("1", "2"));
        assert_eq!(merged.oci_layout.as_deref(), Some("/ws/out"));
        assert_eq!(merged.files.unwrap()[0].src, "/ws/conf/app.toml");
    }
}
