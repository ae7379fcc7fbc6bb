//! A password or token as read from a flag or the environment.

use std::fmt;

/// A secret string whose `Debug` is `<redacted>`, so a struct holding it can derive
/// `Debug` and still never put the secret in a log, a panic message or `{:?}` output.
/// The value is reached only through [`Secret::expose`], which names the intent.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// For clap: any string is a valid secret.
impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Secret, Self::Err> {
        Ok(Secret::new(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{BuildArgs, Environment};

    /// Every struct that can hold a password or token, formatted with `{:?}`, shows none.
    #[test]
    fn debug_of_everything_holding_a_secret_redacts_it() {
        const SECRET: &str = "hunter2-s3cr3t";
        let env = Environment {
            imgpush_username: Some("alice".into()),
            imgpush_password: Some(Secret::new(SECRET)),
            ..Default::default()
        };
        let args = BuildArgs {
            creds: Some(format!("bob:{SECRET}").parse().unwrap()),
            ..Default::default()
        };
        let from_env = crate::plan::registry::registry_settings(
            &env,
            Default::default(),
            &["r.io"],
            None,
            None,
        )
        .unwrap();
        let from_flag = crate::plan::registry::registry_settings(
            &env,
            Default::default(),
            &["r.io"],
            args.creds.as_ref().map(Secret::expose),
            None,
        )
        .unwrap();
        assert!(
            !from_flag.credentials.explicit.is_empty() && !from_env.credentials.explicit.is_empty(),
            "the settings do hold the secret"
        );
        let token = crate::registry::Credential::IdentityToken {
            username: String::new(),
            token: SECRET.into(),
        };
        for debug in [
            format!("{env:?}"),
            format!("{env:#?}"),
            format!("{args:?}"),
            format!("{from_env:?}"),
            format!("{from_flag:#?}"),
            format!("{:?}", from_flag.credentials),
            format!("{token:?}"),
        ] {
            assert!(!debug.contains(SECRET), "{debug}");
            assert!(debug.contains("redacted"), "{debug}");
        }
    }
}
