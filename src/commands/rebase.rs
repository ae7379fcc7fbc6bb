//! `imgpush rebase`: an image's own layers on a new base, nothing rebuilt.

use super::{CommandError, block_on};
use crate::ops::rebase::RebaseOutput;
use crate::plan::{self, Environment, RebaseArgs, RebasePlan};
use crate::report::Reporter;
use std::sync::Arc;

pub fn plan(args: &RebaseArgs, env: &Environment) -> Result<RebasePlan, CommandError> {
    Ok(plan::for_rebase(args, env).map_err(crate::Error::from)?)
}

pub fn execute(
    plan: &RebasePlan,
    reporter: Arc<dyn Reporter>,
) -> Result<RebaseOutput, CommandError> {
    Ok(block_on(crate::ops::rebase::rebase(plan, reporter))?.map_err(crate::Error::from)?)
}
