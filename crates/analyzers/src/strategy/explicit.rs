//! The plan's own `depends_on` fields.

use dagent_core::{AnalyzeError, BoxFuture, DependencyAnalyzer, DependencyMap, Plan};

use crate::PlanIndex;

/// Uses the dependencies the plan declares. Not applicable (an error the fallback chain
/// records) when no task declares any; tasks without `depends_on` in a plan where others
/// have it depend on nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExplicitAnalyzer;

impl DependencyAnalyzer for ExplicitAnalyzer {
    fn name(&self) -> &str {
        "explicit"
    }

    fn analyze<'a>(&'a self, plan: &'a Plan) -> BoxFuture<'a, Result<DependencyMap, AnalyzeError>> {
        Box::pin(async move {
            if !plan.has_explicit_dependencies() {
                return Err(AnalyzeError::new("no task declares depends_on"));
            }
            let index = PlanIndex::build(plan).map_err(|e| AnalyzeError::new(e.message()))?;
            index
                .explicit_map(plan)
                .map_err(|e| AnalyzeError::new(e.message()))
        })
    }
}
