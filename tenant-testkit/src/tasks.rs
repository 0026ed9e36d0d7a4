//! Concurrency without losing exact predictions: ops partitioned by tenant over tasks.

use std::future::Future;

/// Runs `ops` on `tasks` tokio tasks at once: task `k` alone runs the ops whose tenant
/// (`tenant_of`) is `k` modulo `tasks`, in program order, so each tenant's history, and a
/// model's prediction of every result, is the same whatever the interleaving. `task` gets the
/// ops with their index in the program. Returns each task's result, in task order.
///
/// # Panics
/// When a task panicked: its panic is the test's failure.
///
/// ```
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
/// # async fn main() {
/// let ops: Vec<usize> = (0..10).collect();
/// let sums = tenant_testkit::run_partitioned(&ops, 3, |t| *t, async |mine: Vec<(usize, usize)>| {
///     mine.iter().map(|(_, t)| t).sum::<usize>()
/// })
/// .await;
/// assert_eq!(sums, [0 + 3 + 6 + 9, 1 + 4 + 7, 2 + 5 + 8]);
/// # }
/// ```
pub async fn run_partitioned<Op, R, F>(
    ops: &[Op],
    tasks: usize,
    tenant_of: impl Fn(&Op) -> usize,
    task: impl Fn(Vec<(usize, Op)>) -> F,
) -> Vec<R>
where
    Op: Clone,
    F: Future<Output = R> + Send + 'static,
    R: Send + 'static,
{
    let tasks = tasks.max(1);
    let mut per_task: Vec<Vec<(usize, Op)>> = (0..tasks).map(|_| Vec::new()).collect();
    for (index, op) in ops.iter().enumerate() {
        per_task[tenant_of(op) % tasks].push((index, op.clone()));
    }
    let handles: Vec<_> = per_task
        .into_iter()
        .map(|ops| tokio::spawn(task(ops)))
        .collect();
    let mut results = Vec::with_capacity(handles.len());
    for handle in handles {
        match handle.await {
            Ok(result) => results.push(result),
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        }
    }
    results
}
