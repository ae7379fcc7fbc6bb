//! `imgpush index create`: images and indexes already pushed → one index.

use super::{CommandError, block_on};
use crate::ops::index::IndexOutput;
use crate::plan::{self, Environment, IndexCreateArgs, IndexCreatePlan};
use crate::report::Reporter;
use std::sync::Arc;

pub fn plan(args: &IndexCreateArgs, env: &Environment) -> Result<IndexCreatePlan, CommandError> {
    Ok(plan::for_index_create(args, env).map_err(crate::Error::from)?)
}

pub fn execute(
    plan: &IndexCreatePlan,
    reporter: Arc<dyn Reporter>,
) -> Result<IndexOutput, CommandError> {
    Ok(block_on(crate::ops::index::create(plan, reporter))?.map_err(crate::Error::from)?)
}
