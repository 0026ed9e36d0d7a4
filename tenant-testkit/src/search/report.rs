//! What a search reports: its first difference, the shrunk failure, the counts, as a CI log
//! shows them.

use std::fmt;
use std::time::Duration;

use super::op::Op;
use crate::Counts;

/// The first difference of a run.
#[derive(Debug, Clone)]
pub struct Mismatch {
    /// Its index in the program.
    pub index: usize,
    /// The op.
    pub op: Op,
    /// What the model expected.
    pub expected: String,
    /// What the database returned.
    pub actual: String,
    /// Values of other tenants the op returned.
    pub leaks: u64,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "op #{}: {:?}\n  model:    {}\n  database: {}\n  values of another tenant returned: {}",
            self.index, self.op, self.expected, self.actual, self.leaks
        )
    }
}

/// A failing program, shrunk.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The first difference of the full run.
    pub first: Mismatch,
    /// The shortest failing program found (run on one task, in order).
    pub shrunk: Vec<Op>,
    /// Its difference, `None` when the failure did not reproduce on one task (a race between
    /// tenants: the full program is the reproduction).
    pub shrunk_difference: Option<Mismatch>,
    /// Runs the shrinking took.
    pub shrink_runs: usize,
}

/// What a search did: its seed and size, its counts, its time, and its failure if any. Its
/// `Display` is the text a CI log shows.
#[derive(Debug, Clone)]
pub struct SearchReport {
    /// The search's name.
    pub name: String,
    /// The seed (`TENANT_LEAK_SEED` replays it).
    pub seed: u64,
    /// Ops in the program.
    pub ops: usize,
    /// Tenants and tasks.
    pub tenants: usize,
    /// Tokio tasks the program ran on.
    pub tasks: usize,
    /// What ran, by kind and expected outcome.
    pub counts: Counts,
    /// Time of the full run.
    pub elapsed: Duration,
    /// The failure, shrunk.
    pub failure: Option<Failure>,
}

impl SearchReport {
    /// Whether the model and the database agreed and nothing leaked.
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

impl fmt::Display for SearchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "leak search {}: seed={} tenants={} tasks={} ops={} cross_tenant={} leaks={} \
             time={:.1}s\n  {}",
            self.name,
            self.seed,
            self.tenants,
            self.tasks,
            self.counts.ops,
            self.counts.cross,
            self.counts.leaks,
            self.elapsed.as_secs_f64(),
            self.counts
        )?;
        if let Some(failure) = &self.failure {
            write!(
                f,
                "\nFAILED: the model and the database differ. Replay: TENANT_LEAK_SEED={} \
                 TENANT_LEAK_OPS={}\nfirst difference: {}\nshortest failing program ({} ops, \
                 {} shrink runs):",
                self.seed,
                self.ops,
                failure.first,
                failure.shrunk.len(),
                failure.shrink_runs
            )?;
            for op in &failure.shrunk {
                write!(f, "\n  {op:?}")?;
            }
            match &failure.shrunk_difference {
                Some(m) => write!(f, "\nits difference: {m}")?,
                None => write!(f, "\n(not reproduced on one task: a race; replay the seed)")?,
            }
        }
        Ok(())
    }
}
