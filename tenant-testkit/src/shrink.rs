//! Delta debugging: the shortest failing program the searches print.

/// The shortest failing program found from `ops` (which fails, first at `first`): the prefix
/// up to the first failure, then the ops `keep_alone` selects (the failing tenant's, say), then
/// delta debugging (ddmin) over what is left. `fails` runs a candidate (each on a fresh
/// database, so no state of one candidate reaches the next) and says whether it still fails;
/// refining stops after `budget` runs. Returns the program and the number of runs.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // A "bug" that needs a 3 then a 7, in that order.
/// let ops: Vec<u32> = (0..40).collect::<Vec<_>>().iter().map(|i| i % 10).collect();
/// let fails = async |p: &[u32]| {
///     p.iter().position(|&x| x == 3).is_some_and(|i| p[i..].contains(&7))
/// };
/// let (shrunk, _runs) = tenant_testkit::shrink(ops, 7, |_| true, 100, fails).await;
/// assert_eq!(shrunk, [3, 7]);
/// # }
/// ```
pub async fn shrink<Op: Clone>(
    mut ops: Vec<Op>,
    first: usize,
    keep_alone: impl Fn(&Op) -> bool,
    budget: usize,
    mut fails: impl AsyncFnMut(&[Op]) -> bool,
) -> (Vec<Op>, usize) {
    let mut runs = 0;
    if first < ops.len() {
        let prefix = ops[..=first].to_vec();
        runs += 1;
        if fails(&prefix).await {
            ops = prefix;
        }
    }
    let alone: Vec<Op> = ops.iter().filter(|op| keep_alone(op)).cloned().collect();
    if !alone.is_empty() && alone.len() < ops.len() {
        runs += 1;
        if fails(&alone).await {
            ops = alone;
        }
    }
    let mut n = 2;
    while ops.len() >= 2 && runs < budget {
        let chunk = ops.len().div_ceil(n);
        let mut reduced = false;
        for start in (0..ops.len()).step_by(chunk) {
            let mut candidate = ops[..start].to_vec();
            candidate.extend_from_slice(&ops[(start + chunk).min(ops.len())..]);
            runs += 1;
            if fails(&candidate).await {
                ops = candidate;
                n = (n - 1).max(2);
                reduced = true;
                break;
            }
            if runs >= budget {
                break;
            }
        }
        if !reduced {
            if n >= ops.len() {
                break;
            }
            n = (2 * n).min(ops.len());
        }
    }
    (ops, runs)
}
