//! The bounded concurrent cache in front of the enrichment lookups (user agents, GeoIP): values
//! repeat heavily in CloudTrail, and a lookup costs a parse or a tree walk.

/// A quick_cache holding at most `capacity` entries (at least 1). One shard per ~64 entries (a
/// power of two, at most 16), with a weight capacity the shards divide exactly: quick_cache gives
/// each shard `ceil(weight / shards)`, so with its default of 4 × cores shards the total could
/// exceed `capacity`.
pub(crate) fn bounded_cache<K, V>(capacity: usize) -> quick_cache::sync::Cache<K, V>
where
    K: Eq + std::hash::Hash,
    V: Clone,
{
    let capacity = capacity.max(1);
    let shards = (capacity / 64).clamp(1, 16);
    let shards = if shards.is_power_of_two() {
        shards
    } else {
        shards.next_power_of_two() / 2
    };
    let per_shard = capacity / shards;
    let opts = quick_cache::OptionsBuilder::new()
        .estimated_items_capacity(capacity)
        .weight_capacity((per_shard * shards) as u64)
        .shards(shards)
        .build()
        .expect("valid quick_cache options");
    quick_cache::sync::Cache::with_options(
        opts,
        quick_cache::UnitWeighter,
        quick_cache::DefaultHashBuilder::default(),
        quick_cache::sync::DefaultLifecycle::default(),
    )
}
