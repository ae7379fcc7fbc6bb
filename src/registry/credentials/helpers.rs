//! Credential helpers: finding `docker-credential-<name>` on the PATH, running it with a
//! deadline, and reading its answer as docker does.

use super::{Credential, CredentialError, CredentialStore, server_url};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a credential helper may take. A helper waiting on a locked keychain or a
/// prompt nobody sees would otherwise hang the run forever.
pub const HELPER_TIMEOUT: Duration = Duration::from_secs(30);

impl CredentialStore {
    fn helper_program(&self, helper: &str, config: &Path) -> Result<PathBuf, CredentialError> {
        let name = format!("docker-credential-{helper}");
        // Relative entries (`.`, or the empty one a stray `:` makes) would run whatever
        // file of that name the working directory holds: skipped, as Go's exec.LookPath
        // does since 1.19 and so docker.
        self.helper_path
            .iter()
            .filter(|d| d.is_absolute())
            .map(|d| d.join(&name))
            .find(|p| p.is_file())
            .ok_or_else(|| CredentialError::HelperMissing {
                helper: helper.to_string(),
                path: config.to_path_buf(),
            })
    }

    /// Runs `docker-credential-<helper> <verb>` with `input` on stdin, as docker does.
    pub(super) fn run_helper(
        &self,
        helper: &str,
        verb: &str,
        input: &str,
        registry: &str,
        config: &Path,
    ) -> Result<(bool, String), CredentialError> {
        let program = self.helper_program(helper, config)?;
        let fail = |message: String| CredentialError::Helper {
            helper: helper.to_string(),
            registry: registry.to_string(),
            message,
        };
        // Storing or erasing may wait for the user (a keychain asking to be unlocked).
        let timeout = self.helper_timeout.unwrap_or(match verb {
            "get" => HELPER_TIMEOUT,
            _ => HELPER_TIMEOUT * 10,
        });
        let timed_out = || CredentialError::HelperTimeout {
            helper: helper.to_string(),
            registry: registry.to_string(),
            path: config.to_path_buf(),
            timeout,
        };
        let deadline = Instant::now() + timeout;
        // stderr is not shown (helpers are chatty) nor piped: unread, a full pipe would
        // stall the helper until the deadline.
        let mut child = Command::new(program)
            .arg(verb)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| fail(e.to_string()))?;
        // Read on a thread so that the wait below can give up; a helper killed at the
        // deadline may leave a child holding the pipe, so that thread is not joined.
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = tx.send(std::io::Read::read_to_end(&mut stdout, &mut buf).map(|_| buf));
        });
        // The input is one short line, far below a pipe's buffer: this cannot block. A
        // helper that exits without reading it breaks the pipe; its exit status and answer
        // are what count.
        let _ = child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(input.as_bytes());
        let status = loop {
            match child.try_wait().map_err(|e| fail(e.to_string()))? {
                Some(status) => break status,
                None if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(timed_out());
                }
                None => std::thread::sleep(Duration::from_millis(10)),
            }
        };
        // It has exited: its answer is complete unless something it started still holds
        // the pipe open; wait a moment for that, not the whole deadline.
        let out = rx
            .recv_timeout(Duration::from_secs(2))
            .map_err(|_| {
                fail("it exited, but a process it started still holds its output open".into())
            })?
            .map_err(|e| fail(e.to_string()))?;
        // Helpers report errors on stdout; never echo more than a short line of it.
        let text = String::from_utf8_lossy(&out).to_string();
        Ok((status.success(), text))
    }

    pub(super) fn helper_get(
        &self,
        helper: &str,
        registry: &str,
        config: &Path,
    ) -> Result<Option<Credential>, CredentialError> {
        let (ok, text) = self.run_helper(helper, "get", &server_url(registry), registry, config)?;
        if !ok {
            if text.to_ascii_lowercase().contains("credentials not found") {
                return Ok(None);
            }
            let first = text
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(120)
                .collect::<String>();
            return Err(CredentialError::Helper {
                helper: helper.to_string(),
                registry: registry.to_string(),
                message: if first.is_empty() {
                    "it failed without a message".into()
                } else {
                    first
                },
            });
        }
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(rename = "Username")]
            username: String,
            #[serde(rename = "Secret")]
            secret: String,
        }
        let a: Answer = serde_json::from_str(&text).map_err(|_| CredentialError::Helper {
            helper: helper.to_string(),
            registry: registry.to_string(),
            message: "its answer is not the JSON docker expects ({\"Username\":…,\"Secret\":…})"
                .into(),
        })?;
        Ok(Some(if a.username == "<token>" {
            Credential::IdentityToken {
                username: String::new(),
                token: a.secret,
            }
        } else {
            Credential::Basic {
                username: a.username,
                password: a.secret,
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::credentials::tests::helper_script;

    #[test]
    fn a_hung_helper_is_stopped_and_named() {
        let dir = tempfile::tempdir().unwrap();
        helper_script(dir.path(), "hang", "exec sleep 30");
        let config = dir.path().join("config.json");
        std::fs::write(&config, r#"{"credsStore":"hang"}"#).unwrap();
        let store = CredentialStore {
            docker_config: Some(config),
            helper_path: vec![dir.path().to_path_buf()],
            helper_timeout: Some(Duration::from_millis(300)),
            ..Default::default()
        };
        let start = Instant::now();
        let err = store.lookup("a.io").unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(10));
        assert!(
            matches!(err, CredentialError::HelperTimeout { .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("docker-credential-hang")
                && msg.contains("a.io")
                && msg.contains("was stopped")
                && msg.contains("remove it from that file"),
            "{msg}"
        );
    }

    #[test]
    fn helpers_are_found_only_in_absolute_path_entries() {
        let dir = tempfile::tempdir().unwrap();
        helper_script(
            dir.path(),
            "planted",
            r#"echo '{"Username":"evil","Secret":"x"}'"#,
        );
        let config = dir.path().join("config.json");
        std::fs::write(&config, r#"{"credsStore":"planted"}"#).unwrap();
        // The same directory, spelled relative to our working directory.
        let cwd = std::env::current_dir().unwrap();
        let mut relative = PathBuf::new();
        for _ in cwd.components().skip(1) {
            relative.push("..");
        }
        relative.push(dir.path().strip_prefix("/").unwrap());
        assert!(relative.join("docker-credential-planted").is_file());
        let store = CredentialStore {
            docker_config: Some(config),
            helper_path: vec![PathBuf::new(), PathBuf::from("."), relative],
            ..Default::default()
        };
        let err = store.lookup("a.io").unwrap_err();
        assert!(
            matches!(err, CredentialError::HelperMissing { .. }),
            "{err:?}"
        );
        let store = CredentialStore {
            helper_path: vec![dir.path().to_path_buf()],
            ..store
        };
        assert!(store.lookup("a.io").unwrap().is_some());
    }
}
