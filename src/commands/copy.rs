//! `imgpush copy`: an image or index to another place, digests preserved.

use super::{CommandError, block_on};
use crate::ops::copy::CopyOutput;
use crate::plan::{self, CopyArgs, CopyPlan, Environment};
use crate::report::Reporter;
use std::sync::Arc;

pub fn plan(args: &CopyArgs, env: &Environment) -> Result<CopyPlan, CommandError> {
    Ok(plan::for_copy(args, env).map_err(crate::Error::from)?)
}

pub fn execute(plan: &CopyPlan, reporter: Arc<dyn Reporter>) -> Result<CopyOutput, CommandError> {
    Ok(block_on(crate::ops::copy::copy(plan, reporter))?.map_err(crate::Error::from)?)
}
