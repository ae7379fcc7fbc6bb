//! `imgpush doctor`: everything a build needs, each missing piece with the command that
//! fixes it. `imgpush build` runs the toolchain part of the same checks before compiling.

use crate::build::rust_target;
use crate::build::toolchain::{Check, CheckStatus, inspect};
use crate::config::DoctorPlan;
use crate::oci::Digest;
use crate::registry::{Client, RegistryError};
use crate::report::NoopReporter;
use std::sync::Arc;

pub struct DoctorReport {
    /// `platform → Rust target` lines for the header.
    pub targets: Vec<(String, Option<&'static str>)>,
    pub checks: Vec<Check>,
}

impl DoctorReport {
    pub fn healthy(&self) -> bool {
        !self
            .checks
            .iter()
            .any(|c| matches!(c.status, CheckStatus::Missing { .. }))
    }
}

pub async fn run(plan: &DoctorPlan) -> DoctorReport {
    let targets: Vec<(String, Option<&'static str>)> = plan
        .platforms
        .iter()
        .map(|p| (p.to_string(), rust_target(p, plan.libc)))
        .collect();
    let mut checks = Vec::new();
    for (p, t) in &targets {
        if t.is_none() {
            checks.push(Check {
                name: format!("Rust target for {p}"),
                status: CheckStatus::Missing {
                    problem: "imgpush has no Rust target for this platform and libc".into(),
                    fix: "choose another platform, or --libc musl".into(),
                },
            });
        }
    }
    let triples: Vec<&str> = targets.iter().filter_map(|(_, t)| *t).collect();
    checks.extend(inspect(&plan.tools, &triples, plan.builder, plan.build_std).checks);
    checks.push(go_check(plan));
    if let Some(repo) = &plan.repo {
        checks.push(registry_check(plan, repo).await);
    }
    DoctorReport { targets, checks }
}

fn go_check(plan: &DoctorPlan) -> Check {
    let go = crate::build::go::find_go(&plan.tools);
    let version = go.as_ref().and_then(|g| {
        let out = std::process::Command::new(g).arg("version").output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    });
    Check {
        name: "go".into(),
        status: match (go, version) {
            (Some(g), Some(v)) => CheckStatus::Ok(format!("{} — {v}", g.display())),
            _ => CheckStatus::Info(format!(
                "not found; needed only for Go builds: {}",
                crate::build::go::GO_FIX
            )),
        },
    }
}

/// Reaches the registry and proves push access with the stored credentials: a HEAD of a
/// blob in the repository under a `pull,push` token.
async fn registry_check(plan: &DoctorPlan, repo: &crate::oci::Repository) -> Check {
    let name = format!("registry login for {}", repo.registry);
    let scopes = vec![format!("repository:{}:pull,push", repo.path)];
    let config = match crate::registry::client_config(&plan.registry, &repo.registry, scopes) {
        Ok(c) => c,
        Err(e) => {
            let fix = match &e {
                crate::registry::PoolError::Credentials(_) => {
                    "fix the docker config file, or log in again with `docker login`"
                }
                _ => "fix or remove that certificate file",
            };
            return Check {
                name,
                status: CheckStatus::Missing {
                    problem: crate::error::chain(&e),
                    fix: fix.into(),
                },
            };
        }
    };
    let has_credential = config.credential.is_some();
    let client = Client::new(config, Arc::new(NoopReporter));
    let probe = Digest::of(b"imgpush doctor");
    let status = match client.blob_exists(&repo.path, &probe).await {
        Ok(_) => CheckStatus::Ok(if has_credential {
            format!("{} reachable, stored credentials accepted", repo)
        } else {
            format!("{} reachable without credentials", repo)
        }),
        Err(e) => {
            let fix = e
                .hint()
                .unwrap_or_else(|| format!("docker login {}", repo.registry));
            let problem = match &e {
                RegistryError::Unauthorized { .. } if !has_credential => {
                    "no credentials stored for it".to_string()
                }
                other => other.to_string(),
            };
            CheckStatus::Missing { problem, fix }
        }
    };
    Check { name, status }
}
