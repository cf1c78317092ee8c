//! The last resort: every task after the previous one.

use dagent_core::{AnalyzeError, BoxFuture, DependencyAnalyzer, DependencyMap, Plan};

/// Each task depends on the one before it — always valid, never parallel. The fallback
/// chain's last resort.
#[derive(Clone, Copy, Debug, Default)]
pub struct SequentialAnalyzer;

impl SequentialAnalyzer {
    /// The chain map for `n` tasks.
    #[must_use]
    pub fn map(n: usize) -> DependencyMap {
        DependencyMap::from_lists(
            (0..n)
                .map(|i| if i == 0 { vec![] } else { vec![i - 1] })
                .collect(),
        )
    }
}

impl DependencyAnalyzer for SequentialAnalyzer {
    fn name(&self) -> &str {
        "sequential"
    }

    fn analyze<'a>(&'a self, plan: &'a Plan) -> BoxFuture<'a, Result<DependencyMap, AnalyzeError>> {
        Box::pin(async move { Ok(Self::map(plan.tasks.len())) })
    }
}
