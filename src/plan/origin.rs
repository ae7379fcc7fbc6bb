//! Where a setting came from, so that an error about a value names the place to fix it:
//! `--expose`, `IMGPUSH_REPO`, `/src/app/imgpush.toml`, `/src/app/Cargo.toml
//! [package.metadata.imgpush]`.

use super::PlanError;
use std::fmt;
use std::path::PathBuf;

/// One place settings are read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A command-line flag, as written (`--expose`).
    Flag(&'static str),
    /// An environment variable (`IMGPUSH_REPO`, `SOURCE_DATE_EPOCH`).
    Env(&'static str),
    /// An `imgpush.toml`.
    File(PathBuf),
    /// `[package.metadata.imgpush]` (`workspace: false`) or `[workspace.metadata.imgpush]`
    /// of this Cargo.toml.
    Cargo { manifest: PathBuf, workspace: bool },
    /// Decided by imgpush, not the user.
    Default,
}

impl Origin {
    /// Is this a table in a file (where values are named by key)?
    fn is_file(&self) -> bool {
        matches!(self, Origin::File(_) | Origin::Cargo { .. })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(name) | Origin::Env(name) => f.write_str(name),
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::Cargo {
                manifest,
                workspace,
            } => write!(
                f,
                "{} [{}.metadata.imgpush]",
                manifest.display(),
                if *workspace { "workspace" } else { "package" }
            ),
            Origin::Default => f.write_str("default"),
        }
    }
}

/// A value and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting<T> {
    pub value: T,
    pub origin: Origin,
}

impl<T> Setting<T> {
    pub fn new(value: T, origin: Origin) -> Setting<T> {
        Setting { value, origin }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Setting<U> {
        Setting {
            value: f(self.value),
            origin: self.origin,
        }
    }

    /// Parses the value with `f`; an error is reported as coming from `origin`'s `key`.
    pub fn parse<U>(
        self,
        key: &'static str,
        f: impl FnOnce(T) -> Result<U, PlanError>,
    ) -> Result<Setting<U>, PlanError> {
        let origin = self.origin;
        match f(self.value) {
            Ok(value) => Ok(Setting { value, origin }),
            Err(e) => Err(at(&origin, key)(e)),
        }
    }
}

/// The value of a setting that may be unset.
pub fn value<T: Clone>(s: &Option<Setting<T>>) -> Option<T> {
    s.as_ref().map(|s| s.value.clone())
}

/// Turns an error about a value into one that names where the value was written. Flags
/// and environment variables are already named by the parsers (`--expose `99999`: …`);
/// a file's value is named by its file and key (`…/imgpush.toml: expose = 99999: …`).
pub fn at(origin: &Origin, key: &'static str) -> impl Fn(PlanError) -> PlanError {
    let origin = origin.clone();
    move |e| {
        if let Origin::Env(name) = origin {
            return match e {
                PlanError::Invalid { given, why, .. } => PlanError::Invalid {
                    what: name,
                    given,
                    why,
                },
                other => other,
            };
        }
        if !origin.is_file() {
            return e;
        }
        match e {
            PlanError::Invalid { given, why, .. } => PlanError::Setting {
                origin: origin.clone(),
                key,
                given,
                why,
            },
            already @ (PlanError::Setting { .. } | PlanError::InSetting { .. }) => already,
            other => PlanError::InSetting {
                origin: origin.clone(),
                key,
                inner: Box::new(other),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file_and_key_but_leave_flags_alone() {
        let invalid = || PlanError::Invalid {
            what: "--expose",
            given: "99999".into(),
            why: "the port must be a number from 1 to 65535".into(),
        };
        let file = Origin::File("/src/app/imgpush.toml".into());
        assert_eq!(
            at(&file, "expose")(invalid()).to_string(),
            "/src/app/imgpush.toml: expose = 99999: the port must be a number from 1 to 65535"
        );
        let cargo = Origin::Cargo {
            manifest: "/src/app/Cargo.toml".into(),
            workspace: false,
        };
        let platform = "linux/amd65".parse::<crate::oci::Platform>().unwrap_err();
        let e = at(&cargo, "platforms")(platform.into()).to_string();
        assert!(
            e.starts_with(
                "/src/app/Cargo.toml [package.metadata.imgpush]: platforms: platform `linux/amd65`"
            ),
            "{e}"
        );
        assert_eq!(
            at(&Origin::Flag("--expose"), "expose")(invalid()).to_string(),
            "--expose `99999`: the port must be a number from 1 to 65535"
        );
    }
}
