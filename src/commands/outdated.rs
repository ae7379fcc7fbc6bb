//! `imgpush outdated`: whether each image's recorded base has moved.

use super::{CommandError, block_on};
use crate::ops::outdated::BaseStatus;
use crate::plan::{self, Environment, OutdatedArgs, OutdatedPlan};
use crate::report::Reporter;
use std::sync::Arc;

pub fn plan(args: &OutdatedArgs, env: &Environment) -> Result<OutdatedPlan, CommandError> {
    Ok(plan::for_outdated(args, env).map_err(crate::Error::from)?)
}

pub fn execute(
    plan: &OutdatedPlan,
    reporter: Arc<dyn Reporter>,
) -> Result<Vec<BaseStatus>, CommandError> {
    Ok(block_on(crate::ops::outdated::outdated(plan, reporter))?.map_err(crate::Error::from)?)
}
