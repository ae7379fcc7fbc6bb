//! `imgpush build` and `cargo imgpush`: one image (or index) from a plan.

use super::{CommandError, block_on};
use crate::pipeline::BuildOutput;
use crate::plan::{self, BuildArgs, Environment, Plan};
use crate::report::Reporter;
use std::sync::Arc;

pub fn plan(args: &BuildArgs, env: &Environment) -> Result<Plan, CommandError> {
    Ok(plan::for_build(args, env).map_err(crate::Error::from)?)
}

pub fn execute(plan: &Plan, reporter: Arc<dyn Reporter>) -> Result<BuildOutput, CommandError> {
    Ok(block_on(crate::pipeline::build(plan, reporter))??)
}
