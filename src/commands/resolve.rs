//! `imgpush resolve`: build every `imgpush://PATH` in Kubernetes YAML and substitute the
//! pushed references.

use super::{CommandError, block_on};
use crate::ops::resolve::{self as r, Document};
use crate::plan::{self, Environment, Plan, PlanError, ResolveArgs};
use crate::report::Reporter;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// The YAML documents read and one build plan per distinct `imgpush://` reference.
#[derive(Debug)]
pub struct ResolvePlan {
    pub documents: Vec<Document>,
    pub plans: BTreeMap<String, Plan>,
}

pub fn plan(args: &ResolveArgs, env: &Environment) -> Result<ResolvePlan, CommandError> {
    let inputs: Vec<PathBuf> = args
        .files
        .iter()
        .map(|f| {
            if f.as_os_str() == "-" {
                f.clone()
            } else {
                env.cwd.join(f)
            }
        })
        .collect();
    let documents = r::load(&inputs).map_err(crate::Error::from)?;
    let mut plans = BTreeMap::new();
    for path in r::references(&documents) {
        let plan = plan::for_reference(args, env, &path).map_err(|e| match e {
            // An `imgpush://` path that is not there: say which document names it.
            PlanError::Invalid { why, .. } if !env.cwd.join(&path).is_dir() => {
                crate::Error::from(r::missing_path(&documents, &path, &why))
            }
            other => crate::Error::from(other),
        })?;
        plans.insert(path, plan);
    }
    Ok(ResolvePlan { documents, plans })
}

/// Builds and pushes every reference at once; returns the YAML with each one replaced.
pub fn execute(plan: &ResolvePlan, reporter: Arc<dyn Reporter>) -> Result<String, CommandError> {
    let resolved = block_on(crate::pipeline::build_each(&plan.plans, reporter))??;
    Ok(r::substitute(&plan.documents, &resolved))
}
