//! The signing-key schedule: `next → active → retired → removed`, as a pure function of the
//! keys of one algorithm and the time.
//!
//! ```text
//!  created (next) ──publish_ahead──► active ──period──► retired ──retire_keep──► removed
//!        ▲                              │
//!        └── created period − publish_ahead after the active key's activation
//! ```
//!
//! * `publish_ahead` ≥ the JWKS cache lifetime (plus the nodes' reload interval): a verifier that
//!   honours `Cache-Control` has the next key before anything is signed with it.
//! * `retire_keep` ≥ the longest token lifetime plus leeway: every token a retired key signed
//!   expires before the key leaves the JWKS.

/// Lifecycle state of a signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Next,
    Active,
    Retired,
    Removed,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
            KeyState::Removed => "removed",
        }
    }
    pub fn parse(s: &str) -> Option<KeyState> {
        match s {
            "next" => Some(KeyState::Next),
            "active" => Some(KeyState::Active),
            "retired" => Some(KeyState::Retired),
            "removed" => Some(KeyState::Removed),
            _ => None,
        }
    }
    /// Is a key in this state in the JWKS?
    pub fn published(self) -> bool {
        !matches!(self, KeyState::Removed)
    }
}

/// The timings of the schedule, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub period: i64,
    pub publish_ahead: i64,
    pub retire_keep: i64,
}

/// What the planner needs to know about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyView {
    pub kid: String,
    pub state: KeyState,
    pub created_at: i64,
    pub activates_at: Option<i64>,
    pub activated_at: Option<i64>,
    pub remove_after: Option<i64>,
}

/// One transition to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// No key at all: create one and activate it at once (first start, or after a revocation).
    CreateActive,
    /// Stage the successor, published now, active at `activates_at`.
    CreateNext { activates_at: i64 },
    /// The staged key becomes active; the active one (if any) retires until `remove_after`.
    Promote {
        next: String,
        retire: Option<String>,
        remove_after: i64,
    },
    /// A retired key whose tokens have all expired leaves the JWKS.
    Remove(String),
}

/// The transitions due at `now`, in the order to apply them.
pub fn plan(keys: &[KeyView], now: i64, p: Policy) -> Vec<Step> {
    let mut steps: Vec<Step> = keys
        .iter()
        .filter(|k| k.state == KeyState::Retired && k.remove_after.is_some_and(|t| now >= t))
        .map(|k| Step::Remove(k.kid.clone()))
        .collect();
    let active = keys.iter().find(|k| k.state == KeyState::Active);
    let next = keys.iter().find(|k| k.state == KeyState::Next);
    match (active, next) {
        (None, None) => steps.push(Step::CreateActive),
        // Without an active key, signing must go on: promote whatever is staged.
        (None, Some(n)) => steps.push(Step::Promote {
            next: n.kid.clone(),
            retire: None,
            remove_after: now + p.retire_keep,
        }),
        (Some(a), Some(n)) => {
            if n.activates_at.is_some_and(|t| now >= t) {
                steps.push(Step::Promote {
                    next: n.kid.clone(),
                    retire: Some(a.kid.clone()),
                    remove_after: now + p.retire_keep,
                });
            }
        }
        (Some(a), None) => {
            let since = a.activated_at.unwrap_or(a.created_at);
            if now >= since + p.period - p.publish_ahead {
                steps.push(Step::CreateNext {
                    activates_at: (now + p.publish_ahead).max(since + p.period),
                });
            }
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Policy = Policy {
        period: 1000,
        publish_ahead: 100,
        retire_keep: 300,
    };

    fn key(
        kid: &str,
        state: KeyState,
        activated_at: Option<i64>,
        activates_at: Option<i64>,
        remove_after: Option<i64>,
    ) -> KeyView {
        KeyView {
            kid: kid.into(),
            state,
            created_at: activated_at.or(activates_at.map(|t| t - 100)).unwrap_or(0),
            activates_at,
            activated_at,
            remove_after,
        }
    }

    /// Applies a plan to a key list, as the storage layer does.
    fn apply(keys: &mut Vec<KeyView>, steps: &[Step], now: i64, counter: &mut u32) {
        for s in steps {
            match s {
                Step::CreateActive => {
                    *counter += 1;
                    keys.push(key(
                        &format!("k{counter}"),
                        KeyState::Active,
                        Some(now),
                        None,
                        None,
                    ));
                }
                Step::CreateNext { activates_at } => {
                    *counter += 1;
                    let mut k = key(
                        &format!("k{counter}"),
                        KeyState::Next,
                        None,
                        Some(*activates_at),
                        None,
                    );
                    k.created_at = now;
                    keys.push(k);
                }
                Step::Promote {
                    next,
                    retire,
                    remove_after,
                } => {
                    for k in keys.iter_mut() {
                        if Some(&k.kid) == retire.as_ref() {
                            k.state = KeyState::Retired;
                            k.remove_after = Some(*remove_after);
                        }
                        if &k.kid == next {
                            k.state = KeyState::Active;
                            k.activated_at = Some(now);
                        }
                    }
                }
                Step::Remove(kid) => {
                    for k in keys.iter_mut().filter(|k| &k.kid == kid) {
                        k.state = KeyState::Removed;
                    }
                }
            }
        }
    }

    #[test]
    fn single_steps() {
        assert_eq!(plan(&[], 0, P), vec![Step::CreateActive]);
        let a = key("a", KeyState::Active, Some(0), None, None);
        assert!(plan(std::slice::from_ref(&a), 899, P).is_empty());
        assert_eq!(
            plan(std::slice::from_ref(&a), 900, P),
            vec![Step::CreateNext { activates_at: 1000 }]
        );
        // Late (the scheduler was down): still a full publish-ahead.
        assert_eq!(
            plan(std::slice::from_ref(&a), 1500, P),
            vec![Step::CreateNext { activates_at: 1600 }]
        );
        let n = key("n", KeyState::Next, None, Some(1000), None);
        assert!(plan(&[a.clone(), n.clone()], 999, P).is_empty());
        assert_eq!(
            plan(&[a.clone(), n.clone()], 1000, P),
            vec![Step::Promote {
                next: "n".into(),
                retire: Some("a".into()),
                remove_after: 1300
            }]
        );
        let r = key("r", KeyState::Retired, Some(0), None, Some(1300));
        assert!(
            plan(
                &[
                    r.clone(),
                    key("b", KeyState::Active, Some(1000), None, None)
                ],
                1299,
                P
            )
            .is_empty()
        );
        assert_eq!(
            plan(
                &[r, key("b", KeyState::Active, Some(1000), None, None)],
                1300,
                P
            ),
            vec![Step::Remove("r".into())]
        );
        // No active key but a staged one: promote it at once.
        assert!(matches!(
            plan(&[n], 10, P)[0],
            Step::Promote { retire: None, .. }
        ));
    }

    #[test]
    fn many_periods_keep_every_invariant() {
        let mut keys = Vec::new();
        let mut counter = 0;
        let mut now = 0;
        while now < 10 * P.period {
            let steps = plan(&keys, now, P);
            apply(&mut keys, &steps, now, &mut counter);
            let active: Vec<_> = keys
                .iter()
                .filter(|k| k.state == KeyState::Active)
                .collect();
            assert_eq!(active.len(), 1, "exactly one active key at {now}");
            // The active key was published at least publish_ahead before it became active
            // (except the very first key).
            let a = active[0];
            if a.kid != "k1" {
                assert!(
                    a.activated_at.unwrap() - a.created_at >= P.publish_ahead,
                    "{a:?}"
                );
            }
            assert!(keys.iter().filter(|k| k.state == KeyState::Next).count() <= 1);
            now += 7;
        }
        assert!(counter >= 10, "a key per period");
        // Removed keys were retired for at least retire_keep.
        assert!(keys.iter().filter(|k| k.state == KeyState::Removed).count() >= 8);
    }
}
