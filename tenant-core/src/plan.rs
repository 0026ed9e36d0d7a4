//! [`Plan`] and the fairness weights derived from it.

use std::fmt;
use std::str::FromStr;

/// The longest custom plan name accepted, in bytes.
pub const PLAN_NAME_MAX_LEN: usize = 64;

/// A tenant's subscription plan. It decides the tenant's fairness weight (see [`PlanWeights`]).
///
/// Serialised as a lowercase string: `"free"`, `"pro"`, `"enterprise"`, or the name of any other
/// plan, which is kept as [`Plan::Other`] and weighs like an unknown plan.
///
/// ```
/// use tenant::Plan;
///
/// assert_eq!("pro".parse::<Plan>()?, Plan::Pro);
/// assert_eq!(Plan::Enterprise.weight(), 10.0);
/// assert_eq!("trial".parse::<Plan>()?.weight(), 1.0);
/// # Ok::<(), tenant::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Plan {
    /// The free tier; also what an absent plan means.
    #[default]
    Free,
    /// The paid tier.
    Pro,
    /// The enterprise tier.
    Enterprise,
    /// Any other plan name (non-empty, at most [`PLAN_NAME_MAX_LEN`] bytes, printable ASCII).
    Other(String),
}

impl Plan {
    /// The plan's name as serialised.
    pub fn as_str(&self) -> &str {
        match self {
            Plan::Free => "free",
            Plan::Pro => "pro",
            Plan::Enterprise => "enterprise",
            Plan::Other(name) => name,
        }
    }

    /// The plan's fairness weight under the default weights (free=1, pro=3, enterprise=10,
    /// anything else=1). Use [`PlanWeights`] to override them.
    pub fn weight(&self) -> f64 {
        PlanWeights::default().weight(self)
    }
}

impl FromStr for Plan {
    type Err = crate::Error;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Ok(match name {
            "free" => Plan::Free,
            "pro" => Plan::Pro,
            "enterprise" => Plan::Enterprise,
            other => {
                let printable = other.bytes().all(|b| b.is_ascii_graphic());
                if other.is_empty() || other.len() > PLAN_NAME_MAX_LEN || !printable {
                    return Err(crate::Error::InvalidPlan);
                }
                Plan::Other(other.to_owned())
            }
        })
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Plan {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Plan {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// Fairness weight of each plan: free=1, pro=3, enterprise=10 and 1 for any other plan, unless
/// overridden from configuration with [`PlanWeights::from_str`] (`"free=1,pro=5,other=0.5"`).
///
/// ```
/// use tenant::{Plan, PlanWeights};
///
/// let weights: PlanWeights = "pro=5, enterprise=20".parse()?;
/// assert_eq!(weights.weight(&Plan::Pro), 5.0);
/// assert_eq!(weights.weight(&Plan::Free), 1.0);
/// # Ok::<(), tenant::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanWeights {
    free: f64,
    pro: f64,
    enterprise: f64,
    other: f64,
}

/// The weight whose share of what tenants share would be all of it, by default: the sum of the
/// default plan weights (free 1 + pro 3 + enterprise 10). A tenant of weight `w` gets
/// `⌈n × w / full_weight⌉` of `n` slots of `tenant::http::FairLayer` or connections of
/// `tenant::sqlx::DbBudget` (each crate re-exports this constant beside its builder).
///
/// ```
/// use tenant::{DEFAULT_FULL_WEIGHT, Plan};
///
/// let sum: f64 = [Plan::Free, Plan::Pro, Plan::Enterprise].iter().map(Plan::weight).sum();
/// assert_eq!(DEFAULT_FULL_WEIGHT, sum);
/// // Of 64 slots, an enterprise tenant may hold ⌈64 × 10 / 14⌉:
/// assert_eq!((64.0 * Plan::Enterprise.weight() / DEFAULT_FULL_WEIGHT).ceil(), 46.0);
/// ```
pub const DEFAULT_FULL_WEIGHT: f64 = 14.0;

impl Default for PlanWeights {
    fn default() -> Self {
        PlanWeights {
            free: 1.0,
            pro: 3.0,
            enterprise: 10.0,
            other: 1.0,
        }
    }
}

impl PlanWeights {
    /// The weight of `plan`.
    pub fn weight(&self, plan: &Plan) -> f64 {
        match plan {
            Plan::Free => self.free,
            Plan::Pro => self.pro,
            Plan::Enterprise => self.enterprise,
            Plan::Other(_) => self.other,
        }
    }
}

impl FromStr for PlanWeights {
    type Err = crate::Error;

    /// Parses comma-separated `plan=weight` overrides of the defaults. Plans are `free`, `pro`,
    /// `enterprise` and `other`; weights are finite and positive.
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let mut weights = PlanWeights::default();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let invalid = || crate::Error::InvalidPlanWeights {
                entry: entry.chars().take(64).collect(),
            };
            let (plan, weight) = entry.split_once('=').ok_or_else(invalid)?;
            let weight: f64 = weight.trim().parse().map_err(|_| invalid())?;
            if !weight.is_finite() || weight <= 0.0 {
                return Err(invalid());
            }
            match plan.trim() {
                "free" => weights.free = weight,
                "pro" => weights.pro = weight,
                "enterprise" => weights.enterprise = weight,
                "other" => weights.other = weight,
                _ => return Err(invalid()),
            }
        }
        Ok(weights)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_weights() {
        assert_eq!(Plan::Free.weight(), 1.0);
        assert_eq!(Plan::Pro.weight(), 3.0);
        assert_eq!(Plan::Enterprise.weight(), 10.0);
        assert_eq!(Plan::Other("trial".into()).weight(), 1.0);
    }

    #[test]
    fn weights_override_and_reject_garbage() {
        let w: PlanWeights = "free=2,other=0.5".parse().unwrap();
        assert_eq!(w.weight(&Plan::Free), 2.0);
        assert_eq!(w.weight(&Plan::Other("x".into())), 0.5);
        assert_eq!(w.weight(&Plan::Enterprise), 10.0);
        for bad in [
            "pro", "pro=", "pro=abc", "pro=-1", "pro=0", "pro=inf", "gold=3", "=3",
        ] {
            assert!(bad.parse::<PlanWeights>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn plan_names() {
        assert_eq!(
            serde_json::to_string(&Plan::Enterprise).unwrap(),
            "\"enterprise\""
        );
        assert_eq!(serde_json::from_str::<Plan>("\"pro\"").unwrap(), Plan::Pro);
        assert_eq!(
            serde_json::from_str::<Plan>("\"gold\"").unwrap(),
            Plan::Other("gold".into())
        );
        assert!(serde_json::from_str::<Plan>("\"\"").is_err());
        assert!(serde_json::from_str::<Plan>("\"a b\"").is_err());
        assert!(serde_json::from_str::<Plan>(&format!("\"{}\"", "x".repeat(65))).is_err());
    }
}
