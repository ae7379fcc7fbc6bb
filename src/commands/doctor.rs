//! `imgpush doctor`: everything a build needs, each missing piece with the command that
//! fixes it. `imgpush build` runs the toolchain part of the same checks before compiling.

use super::{CommandError, block_on};
use crate::compile::rust_target;
use crate::compile::toolchain::{Check, CheckStatus, inspect};
use crate::oci::Digest;
use crate::plan::{self, DoctorArgs, DoctorPlan, Environment};
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

    /// The report as `imgpush doctor` prints it.
    pub fn text(&self) -> String {
        let mut text = String::from("imgpush doctor\n");
        for (p, t) in &self.targets {
            text.push_str(&format!(
                "  platform {p} → Rust target {}\n",
                t.unwrap_or("(none)")
            ));
        }
        for c in &self.checks {
            match &c.status {
                CheckStatus::Ok(d) => text.push_str(&format!("  ok       {}: {d}\n", c.name)),
                CheckStatus::Info(d) => text.push_str(&format!("  info     {}: {d}\n", c.name)),
                CheckStatus::Missing { problem, fix } => text.push_str(&format!(
                    "  MISSING  {}: {problem}\n           fix: {fix}\n",
                    c.name
                )),
            }
        }
        text
    }
}

pub fn plan(args: &DoctorArgs, env: &Environment) -> Result<DoctorPlan, CommandError> {
    Ok(plan::for_doctor(args, env).map_err(crate::Error::from)?)
}

/// Runs every check; a missing piece is in the report, not an error.
pub fn execute(plan: &DoctorPlan) -> Result<DoctorReport, CommandError> {
    block_on(run(plan))
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
    // Only what the project in front of doctor needs can fail it: a project of prebuilt
    // artifacts, a static bundle or a Go program compiles no Rust.
    if let Some(why) = plan.needs.no_rust {
        for check in &mut checks {
            if let CheckStatus::Missing { problem, .. } = &check.status {
                check.status =
                    CheckStatus::Info(format!("{problem}; not needed here: this project {why}"));
            }
        }
    }
    checks.push(go_check(plan));
    if let Some(repo) = &plan.repo {
        checks.push(registry_check(plan, repo).await);
    }
    DoctorReport { targets, checks }
}

fn go_check(plan: &DoctorPlan) -> Check {
    let go = crate::compile::go::find_go(&plan.tools);
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
            _ if plan.needs.go => CheckStatus::Missing {
                problem: "not found, and this project is a Go program (go.mod)".into(),
                fix: crate::compile::go::GO_FIX.to_string(),
            },
            _ => CheckStatus::Info(format!(
                "not found; needed only for Go builds: {}",
                crate::compile::go::GO_FIX
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
