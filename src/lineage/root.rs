//! The root of a credential: `parent` followed through the lineage index, one `_mget` per level
//! for every credential still on its way, at most [`MAX_DEPTH`] levels.

use super::{store, LineageError, MAX_DEPTH};
use crate::event::minting::{is_temporary, Minted};
use crate::sink::opensearch::Client;
use serde::Serialize;
use std::collections::HashMap;

/// Where a credential comes from, as far as the lineage index shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Root {
    /// The furthest credential or identity reached: the root when `known`.
    pub root: String,
    /// The chain ended at a long-term key or at a caller that is no session (a user's or
    /// service's ARN, a web identity or SAML principal). False when a temporary key on the way
    /// has no document (its minting event was never indexed with the lineage index on), when a
    /// session called without a key being recorded, or when [`MAX_DEPTH`] cut the chain.
    pub root_known: bool,
    /// The documents followed, from the credential up to the root's child.
    pub chain: Vec<Minted>,
}

/// Whether a caller of STS is where a chain ends: anything but a session.
fn ends_chain(m: &Minted) -> bool {
    !matches!(
        m.parent_type.as_deref(),
        Some("AssumedRole") | Some("FederatedUser")
    )
}

/// The roots of `keys` (each asked once; a key that is not temporary is its own root).
pub async fn resolve(
    client: &Client,
    index: &str,
    keys: &[&str],
) -> Result<HashMap<String, Root>, LineageError> {
    let mut done: HashMap<String, Root> = HashMap::new();
    // Key asked → (the credential reached, the documents followed).
    let mut walking: Vec<(String, String, Vec<Minted>)> = Vec::new();
    for key in keys {
        if done.contains_key(*key) || walking.iter().any(|(k, _, _)| k == key) {
            continue;
        }
        if is_temporary(key) {
            walking.push((key.to_string(), key.to_string(), Vec::new()));
        } else {
            let root = Root {
                root: key.to_string(),
                root_known: true,
                chain: Vec::new(),
            };
            done.insert(key.to_string(), root);
        }
    }
    let mut fetched: HashMap<String, Option<Minted>> = HashMap::new();
    for _ in 0..MAX_DEPTH {
        if walking.is_empty() {
            break;
        }
        let mut wanted: Vec<&str> = walking
            .iter()
            .map(|(_, at, _)| at.as_str())
            .filter(|k| !fetched.contains_key(*k))
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut found = store::get(client, index, &wanted).await?;
        let wanted: Vec<String> = wanted.into_iter().map(str::to_owned).collect();
        for k in wanted {
            let doc = found.remove(&k);
            fetched.insert(k, doc);
        }
        let mut next = Vec::with_capacity(walking.len());
        for (key, at, mut chain) in walking {
            let finish = |root: String, root_known: bool, chain: Vec<Minted>| Root {
                root,
                root_known,
                chain,
            };
            let Some(doc) = fetched.get(&at).cloned().flatten() else {
                done.insert(key, finish(at, false, chain));
                continue;
            };
            let parent = doc.parent.clone();
            let ends = ends_chain(&doc);
            chain.push(doc);
            match parent {
                None => {
                    done.insert(key, finish(at, false, chain));
                }
                Some(p) if is_temporary(&p) => {
                    // A loop (never real) ends unknown rather than going round.
                    if chain.iter().any(|m| m.access_key == p) {
                        done.insert(key, finish(p, false, chain));
                    } else {
                        next.push((key, p, chain));
                    }
                }
                Some(p) => {
                    done.insert(key, finish(p, ends, chain));
                }
            }
        }
        walking = next;
    }
    // Cut by the depth limit: as far as followed.
    for (key, at, chain) in walking {
        done.insert(
            key,
            Root {
                root: at,
                root_known: false,
                chain,
            },
        );
    }
    Ok(done)
}
