//! IAM action patterns (`ec2:Describe*`, `s3:Get?bject`), matched the way IAM matches them.

/// IAM action matching: `*` matches any run of characters (also none), `?` exactly one, case
/// ignored (ASCII: IAM actions are ASCII).
pub fn action_matches(pattern: &str, action: &str) -> bool {
    let p = pattern.as_bytes();
    let a = action.as_bytes();
    let (mut pi, mut ai) = (0, 0);
    // Position after the last `*` in the pattern, and where in the action it started matching.
    let mut star: Option<(usize, usize)> = None;
    while ai < a.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi].eq_ignore_ascii_case(&a[ai])) {
            pi += 1;
            ai += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi + 1, ai));
            pi += 1;
        } else if let Some((sp, sa)) = star {
            // Let the last `*` swallow one more character and try again.
            pi = sp;
            ai = sa + 1;
            star = Some((sp, sa + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}
