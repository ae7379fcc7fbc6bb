//! `imgpush sbom`: the SBOM attached to an image, byte for byte.

use super::{CommandError, block_on};
use crate::ops::referrers::{Sbom, SbomFormat, SbomPlan};
use crate::plan::{self, Environment, InspectArgs, SbomArgs};
use crate::report::Reporter;
use std::sync::Arc;

pub fn plan(args: &SbomArgs, env: &Environment) -> Result<SbomPlan, CommandError> {
    // The image is found and reached exactly as `inspect` does.
    let inspect = InspectArgs {
        reference: args.reference.clone(),
        platform: args.platform.clone(),
        creds: args.creds.clone(),
        registry: args.registry.clone(),
        ..InspectArgs::default()
    };
    Ok(SbomPlan {
        inspect: plan::for_inspect(&inspect, env).map_err(crate::Error::from)?,
        // clap allows only these two names.
        format: args.format.as_deref().and_then(SbomFormat::parse),
    })
}

pub fn execute(plan: &SbomPlan, reporter: Arc<dyn Reporter>) -> Result<Sbom, CommandError> {
    Ok(block_on(crate::ops::referrers::sbom(plan, reporter))?.map_err(crate::Error::from)?)
}
