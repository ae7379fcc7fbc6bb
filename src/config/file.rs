use super::ConfigError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `imgpush.toml`: every flag of `imgpush build`, in kebab-case. Unknown keys are errors.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    pub repo: Option<String>,
    pub tags: Option<Vec<String>>,
    pub platforms: Option<Platforms>,
    pub base: Option<String>,
    /// `{ "linux/amd64" = "dist/hello-amd64", … }`; paths relative to the file.
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
    /// Relative to the file.
    pub oci_layout: Option<String>,
    pub insecure_registries: Option<Vec<String>>,
    pub jobs: Option<usize>,
    pub json: Option<bool>,
    #[serde(skip)]
    pub dir: PathBuf,
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

/// `platforms = ["linux/amd64", "linux/arm64"]` or `platforms = "all"`.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum Platforms {
    List(Vec<String>),
    One(String),
}

impl FileConfig {
    /// Loads `dir/imgpush.toml` if it exists.
    pub fn load(dir: &Path) -> Result<FileConfig, ConfigError> {
        let path = dir.join("imgpush.toml");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(FileConfig {
                    dir: dir.to_path_buf(),
                    ..Default::default()
                });
            }
            Err(source) => return Err(ConfigError::ReadFile { path, source }),
        };
        let mut config: FileConfig = toml::from_str(&text).map_err(|e| ConfigError::ParseFile {
            path: path.clone(),
            message: e.to_string().trim().to_string(),
        })?;
        config.dir = dir.to_path_buf();
        config.path = Some(path);
        Ok(config)
    }

    pub fn relative(&self, p: &str) -> PathBuf {
        self.dir.join(p)
    }
}
