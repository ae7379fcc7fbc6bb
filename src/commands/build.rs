//! `imgpush build` and `cargo imgpush`: one image (or index) from a plan, or, with
//! `--workspace` (or `-p` more than once), one image per binary of a workspace.

use super::{CommandError, block_on, output};
use crate::pipeline::{BuildOutput, WorkspaceOutput};
use crate::plan::{self, BuildArgs, Environment, Plan, Verbosity, WorkspacePlan};
use crate::report::Reporter;
use std::sync::Arc;

/// What a build command was asked for.
#[derive(Clone, Debug)]
pub enum BuildPlan {
    One(Box<Plan>),
    Workspace(WorkspacePlan),
}

impl BuildPlan {
    pub fn verbosity(&self) -> Verbosity {
        match self {
            BuildPlan::One(p) => p.verbosity,
            BuildPlan::Workspace(w) => w.images[0].plan.verbosity,
        }
    }
}

/// What it made.
#[derive(Clone, Debug)]
pub enum Built {
    One(BuildOutput),
    Workspace(WorkspaceOutput),
}

impl Built {
    /// stdout: the image's `REPO@sha256:…` (one line per image for a workspace), or with
    /// `--json` the whole result (`{"images": […]}` for a workspace).
    pub fn print(&self, plan: &BuildPlan) -> std::io::Result<()> {
        let json = match plan {
            BuildPlan::One(p) => p.json,
            BuildPlan::Workspace(w) => w.json,
        };
        match self {
            Built::One(out) => output::print_result(json, out, |o| &o.reference),
            Built::Workspace(out) if json => output::print_json(out),
            Built::Workspace(out) => {
                let lines: Vec<&str> = out
                    .images
                    .iter()
                    .map(|i| i.build.reference.as_str())
                    .collect();
                output::print_line(&lines.join("\n"))
            }
        }
    }
}

pub fn plan(args: &BuildArgs, env: &Environment) -> Result<BuildPlan, CommandError> {
    let planned = if plan::is_workspace(args) {
        BuildPlan::Workspace(plan::for_workspace(args, env).map_err(crate::Error::from)?)
    } else {
        BuildPlan::One(Box::new(
            plan::for_build(args, env).map_err(crate::Error::from)?,
        ))
    };
    Ok(planned)
}

pub fn execute(plan: &BuildPlan, reporter: Arc<dyn Reporter>) -> Result<Built, CommandError> {
    Ok(match plan {
        BuildPlan::One(p) => Built::One(block_on(crate::pipeline::build(p, reporter))??),
        BuildPlan::Workspace(w) => {
            Built::Workspace(block_on(crate::pipeline::build_workspace(w, reporter))??)
        }
    })
}
