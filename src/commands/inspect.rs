//! `imgpush inspect`: what an image or index holds.

use super::{CommandError, block_on};
use crate::ops::inspect::Inspection;
use crate::plan::{self, Environment, InspectArgs, InspectPlan};
use crate::report::Reporter;
use std::sync::Arc;

pub fn plan(args: &InspectArgs, env: &Environment) -> Result<InspectPlan, CommandError> {
    Ok(plan::for_inspect(args, env).map_err(crate::Error::from)?)
}

pub fn execute(
    plan: &InspectPlan,
    reporter: Arc<dyn Reporter>,
) -> Result<Inspection, CommandError> {
    Ok(block_on(crate::ops::inspect::inspect(plan, reporter))?.map_err(crate::Error::from)?)
}
