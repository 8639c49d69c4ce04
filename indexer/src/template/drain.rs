//! The Drain clustering core (He et al., "Drain: An Online Log Parsing Approach with Fixed Depth Tree", ICWS
//! 2017), pure and single-threaded: [`super::TemplateMiner`] puts it behind a lock.
//!
//! Masked token sequences are routed through a fixed-depth prefix tree (token count, then the first
//! `depth - 2` tokens; `<*>` tokens and tokens of full nodes go to a `<*>` child; `blk_<*>` is a key of its
//! own) to a leaf holding a few clusters. A cluster whose template already covers the message wins; else the
//! most similar one when its similarity reaches the threshold, and its template then turns every position where
//! the message differs into `<*>`. Similarity counts equal constant tokens over the positions that are not
//! `<*>` on both sides, so already-masked variables neither help nor hurt.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::mask::WILDCARD;
use super::MinerOptions;

/// One cluster: a stable id and its current template tokens.
#[derive(Debug, Clone)]
pub(crate) struct Cluster {
    pub(crate) id: u64,
    pub(crate) tokens: Vec<Box<str>>,
    /// Per token: [`CONST`], [`WILD`] (exactly `<*>`) or [`PARTLY_WILD`] (holds `<*>`, like `blk_<*>`).
    kinds: Vec<u8>,
    /// The tree keys chosen when the cluster was created (persisted so a reload rebuilds the same tree even
    /// after the template generalised).
    pub(crate) route: Vec<Box<str>>,
}

const CONST: u8 = 0;
const WILD: u8 = 1;
const PARTLY_WILD: u8 = 2;

fn kind(token: &str) -> u8 {
    if token == WILDCARD {
        WILD
    } else if token.contains(WILDCARD) {
        PARTLY_WILD
    } else {
        CONST
    }
}

impl Cluster {
    pub(crate) fn text(&self) -> String {
        self.tokens.join(" ")
    }
}

/// FNV-1a, used for tree maps (short keys) and cluster ids (stable across processes and versions).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// The id a template with these (masked) tokens gets on creation, probe `probe` (0 unless ids collide). Never 0.
pub(crate) fn template_hash<S: AsRef<str>>(tokens: &[S], probe: u32) -> u64 {
    let mut h = Fnv::default();
    for t in tokens {
        h.write(t.as_ref().as_bytes());
        h.write(&[0x1f]);
    }
    h.write(&probe.to_le_bytes());
    // Final avalanche (splitmix64) so nearby inputs spread over all 64 bits.
    let mut z = h.finish();
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    z.max(1)
}

#[derive(Debug, Default)]
struct Node {
    children: FnvMap<Box<str>, Node>,
    clusters: Vec<u32>,
}

/// The outcome of routing a message to its best cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// Cluster index; the template already covers the message (no update needed).
    Covered(u32),
    /// Cluster index; the template must generalise to cover the message.
    Similar(u32),
    /// No cluster is similar enough.
    None,
}

/// The clusters and their prefix tree.
#[derive(Debug, Default)]
pub(crate) struct Drain {
    clusters: Vec<Cluster>,
    by_id: FnvMap<u64, u32>,
    roots: FnvMap<usize, Node>,
}

impl Drain {
    pub(crate) fn len(&self) -> usize {
        self.clusters.len()
    }

    pub(crate) fn clusters(&self) -> &[Cluster] {
        &self.clusters
    }

    pub(crate) fn cluster(&self, idx: u32) -> &Cluster {
        &self.clusters[idx as usize]
    }

    pub(crate) fn get(&self, id: u64) -> Option<&Cluster> {
        self.by_id.get(&id).map(|&i| &self.clusters[i as usize])
    }

    /// Routes `tokens` to the most similar cluster of its leaf. When the leaf has no cluster covering the
    /// message, the leaves reached by taking a `<*>` child instead of an exact-token child are checked for one
    /// too: a message absorbed under `<*>` before its first token got a child of its own keeps its cluster.
    pub(crate) fn search(&self, tokens: &[&str], opts: &MinerOptions) -> Found {
        let Some(root) = self.roots.get(&tokens.len()) else {
            return Found::None;
        };
        let route_len = opts
            .max_node_depth()
            .saturating_sub(1)
            .min(tokens.len().saturating_sub(1));
        let route = &tokens[..route_len];
        let mut node = root;
        for token in route {
            let child = if *token == WILDCARD {
                node.children.get(WILDCARD)
            } else {
                node.children
                    .get(*token)
                    .or_else(|| node.children.get(WILDCARD))
            };
            match child {
                Some(c) => node = c,
                None => return Found::None,
            }
        }
        let found = self.best_in_leaf(&node.clusters, tokens, opts);
        if matches!(found, Found::Covered(_)) {
            return found;
        }
        self.covered_off_route(root, route, tokens, opts, false)
            .map_or(found, Found::Covered)
    }

    /// A covering cluster in a leaf reached by at least one `<*>` detour from the exact route.
    fn covered_off_route(
        &self,
        node: &Node,
        route: &[&str],
        tokens: &[&str],
        opts: &MinerOptions,
        detoured: bool,
    ) -> Option<u32> {
        let Some((token, rest)) = route.split_first() else {
            return match detoured {
                true => match self.best_in_leaf(&node.clusters, tokens, opts) {
                    Found::Covered(idx) => Some(idx),
                    _ => None,
                },
                false => None,
            };
        };
        let wild = node.children.get(WILDCARD);
        match node.children.get(*token).filter(|_| *token != WILDCARD) {
            Some(exact) => self
                .covered_off_route(exact, rest, tokens, opts, detoured)
                .or_else(|| wild.and_then(|w| self.covered_off_route(w, rest, tokens, opts, true))),
            None => wild.and_then(|w| self.covered_off_route(w, rest, tokens, opts, detoured)),
        }
    }

    /// The leaf's best cluster for `tokens`. A cluster that already covers the message wins (so a message,
    /// once absorbed, keeps its id); otherwise the most similar one (ties: more `<*>`), if similar enough.
    /// Clusters that can no longer win are abandoned at the first token that proves it.
    fn best_in_leaf(&self, leaf: &[u32], tokens: &[&str], opts: &MinerOptions) -> Found {
        let n = tokens.len();
        // Positions that may differ (template constant or `<*>` against a message constant) while the
        // similarity can still reach the threshold: sim <= 1 - differing / n.
        let max_differ = (1.0 - opts.similarity) * n as f64;
        let mut covered: Option<(u32, f64, usize)> = None;
        let mut similar: Option<(u32, f64, usize)> = None;
        'clusters: for &idx in leaf {
            let cluster = &self.clusters[idx as usize];
            if cluster.tokens.len() != n {
                continue;
            }
            let (mut same, mut both_wild, mut params, mut mismatch, mut differ) =
                (0usize, 0, 0, 0, 0);
            for ((t, &k), m) in cluster.tokens.iter().zip(&cluster.kinds).zip(tokens) {
                if k == WILD {
                    params += 1;
                    if *m == WILDCARD {
                        both_wild += 1;
                    } else {
                        differ += 1;
                    }
                } else if **t == **m {
                    if k == PARTLY_WILD {
                        both_wild += 1;
                    } else {
                        same += 1;
                    }
                } else {
                    mismatch += 1;
                    differ += 1;
                    if covered.is_some() || differ as f64 > max_differ {
                        continue 'clusters;
                    }
                }
            }
            let denom = n - both_wild;
            let sim = if denom == 0 {
                1.0
            } else {
                same as f64 / denom as f64
            };
            let slot = if mismatch == 0 {
                &mut covered
            } else {
                &mut similar
            };
            let better = match *slot {
                None => true,
                Some((_, s, p)) => sim > s || (sim == s && params > p),
            };
            if better {
                *slot = Some((idx, sim, params));
            }
        }
        match (covered, similar) {
            (Some((idx, _, _)), _) => Found::Covered(idx),
            (None, Some((idx, sim, _))) if sim >= opts.similarity => Found::Similar(idx),
            _ => Found::None,
        }
    }

    /// Generalises cluster `idx` to cover `tokens` (positions that differ become `<*>`).
    pub(crate) fn merge(&mut self, idx: u32, tokens: &[&str]) {
        let cluster = &mut self.clusters[idx as usize];
        for ((t, k), m) in cluster
            .tokens
            .iter_mut()
            .zip(cluster.kinds.iter_mut())
            .zip(tokens)
        {
            if *k != WILD && &**t != *m {
                *t = WILDCARD.into();
                *k = WILD;
            }
        }
    }

    /// A fresh id for a new cluster with these tokens: the template hash, probed past ids in use.
    pub(crate) fn fresh_id(&self, tokens: &[&str]) -> u64 {
        let mut probe = 0u32;
        loop {
            let id = template_hash(tokens, probe);
            if !self.by_id.contains_key(&id) {
                return id;
            }
            probe = probe.wrapping_add(1);
        }
    }

    /// Adds a cluster with a known id (creation, or reload with its persisted `route`). Returns false when the
    /// id is already taken.
    pub(crate) fn insert(
        &mut self,
        id: u64,
        tokens: Vec<Box<str>>,
        route: Option<Vec<Box<str>>>,
        opts: &MinerOptions,
    ) -> bool {
        if self.by_id.contains_key(&id) {
            return false;
        }
        let idx = u32::try_from(self.clusters.len()).unwrap_or(u32::MAX);
        let n = tokens.len();
        let route_len = opts
            .max_node_depth()
            .saturating_sub(1)
            .min(n.saturating_sub(1));
        let mut node = self.roots.entry(n).or_default();
        let mut chosen = Vec::with_capacity(route_len);
        for (depth, own) in tokens.iter().take(route_len).enumerate() {
            let token: &str = match &route {
                Some(r) => r.get(depth).map_or(WILDCARD, |t| &**t),
                None => own,
            };
            let key: &str = if token == WILDCARD {
                WILDCARD
            } else if node.children.contains_key(token) || route.is_some() {
                token
            } else {
                let has_wild = node.children.contains_key(WILDCARD);
                let len = node.children.len() + usize::from(!has_wild);
                if len < opts.max_children {
                    token
                } else {
                    WILDCARD
                }
            };
            chosen.push(Box::<str>::from(key));
            node = node.children.entry(key.into()).or_default();
        }
        node.clusters.push(idx);
        self.by_id.insert(id, idx);
        let kinds = tokens.iter().map(|t| kind(t)).collect();
        self.clusters.push(Cluster {
            id,
            tokens,
            kinds,
            route: chosen,
        });
        true
    }
}
