//! Metrics: every name and label set in one place, exposed at `/metrics`.
//!
//! Names follow LiteLLM's Prometheus integration where it has one (so its Grafana dashboards
//! keep working); counters get the `_total` suffix in the exposition, as LiteLLM's do.
//! Metrics LiteLLM lacks carry the `switchyard_` prefix. Recording is a hash lookup and an
//! atomic add per metric; nothing here blocks the request path.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of a finished proxy request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The model name the client sent.
    pub requested_model: String,
    /// The model group that served it (empty when routing failed).
    pub model_group: String,
    /// The deployment id (empty when routing failed).
    pub model_id: String,
    /// The HTTP status sent.
    pub status_code: String,
    /// The route.
    pub route: String,
    /// Streamed or not.
    pub stream: String,
}

/// Labels of a failed request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    /// The model name the client sent.
    pub requested_model: String,
    /// The HTTP status sent.
    pub exception_status: String,
    /// The gateway's static reason (e.g. `upstream_timeout`).
    pub exception_class: String,
}

/// Labels of usage and spend.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    /// The provider's model id.
    pub model: String,
    /// The model group.
    pub model_group: String,
    /// The provider.
    pub api_provider: String,
}

/// A label set borrowed from a request, to find series already made for it without
/// building its strings: the struct, its `Equivalent` to the owned set (so it hashes and
/// compares as that set does: same fields, same order), and `owned()`.
macro_rules! borrowed_labels {
    ($(#[$doc:meta])* $name:ident for $owned:ident { $($field:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Hash)]
        pub struct $name<'a> {
            $(
                #[doc = concat!("See [`", stringify!($owned), "`].")]
                pub $field: &'a str,
            )+
        }

        impl hashbrown::Equivalent<$owned> for $name<'_> {
            fn equivalent(&self, k: &$owned) -> bool {
                true $(&& self.$field == k.$field)+
            }
        }

        impl $name<'_> {
            fn owned(&self) -> $owned {
                $owned {
                    $($field: self.$field.to_owned(),)+
                }
            }
        }
    };
}

borrowed_labels! {
    /// [`RequestLabels`] borrowed, to find a request's counter without building six strings.
    RequestLabelsRef for RequestLabels {
        requested_model, model_group, model_id, status_code, route, stream,
    }
}

/// Labels of usage and spend by model and by who made the request (LiteLLM's labels of
/// `litellm_spend_metric` and the token counters; key fields are empty without a key).
#[derive(Clone, Debug, Default, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UsageLabels {
    /// The provider's model id.
    pub model: String,
    /// The model group.
    pub model_group: String,
    /// The provider.
    pub api_provider: String,
    /// End user (always empty: any string a client sends would make a new series).
    pub end_user: String,
    /// SHA-256 of the virtual key.
    pub hashed_api_key: String,
    /// The key's alias.
    pub api_key_alias: String,
    /// The key's team.
    pub team: String,
    /// The team's alias.
    pub team_alias: String,
    /// The key's user.
    pub user: String,
}

borrowed_labels! {
    /// [`UsageLabels`] borrowed: a request's labels, to find its counters without building the
    /// nine strings. Hashes as `UsageLabels` does (same fields, same order).
    UsageLabelsRef for UsageLabels {
        model, model_group, api_provider, end_user, hashed_api_key, api_key_alias, team,
        team_alias, user,
    }
}

/// Usage and spend counters of one label set.
#[derive(Clone, Debug)]
pub struct UsageCounters {
    /// Input tokens.
    pub input_tokens: Counter,
    /// Output tokens.
    pub output_tokens: Counter,
    /// Input plus output tokens.
    pub total_tokens: Counter,
    /// Spend, USD.
    pub spend: Counter<f64, AtomicU64>,
}

/// Labels of a request by who made it (LiteLLM's `litellm_requests_metric`). `end_user` is left
/// empty: any string a client sends would make a new series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KeyLabels {
    /// End user (always empty here; see above).
    pub end_user: String,
    /// SHA-256 of the virtual key.
    pub hashed_api_key: String,
    /// The key's alias.
    pub api_key_alias: String,
    /// The model name the client sent.
    pub requested_model: String,
    /// The model group that served it.
    pub model: String,
    /// The key's team.
    pub team: String,
    /// The team's alias.
    pub team_alias: String,
    /// The key's user.
    pub user: String,
}

borrowed_labels! {
    /// [`KeyLabels`] borrowed, to find a key's series without building the eight strings.
    /// Hashes as `KeyLabels` does (same fields, same order).
    KeyLabelsRef for KeyLabels {
        end_user, hashed_api_key, api_key_alias, requested_model, model, team, team_alias, user,
    }
}

/// A key's request counter, and its limit and budget gauges once it has those, resolved
/// once per label set (see [`Metrics::key_series`]).
#[derive(Debug)]
pub struct KeySeries {
    labels: KeyLabels,
    /// `litellm_requests_metric` for these labels.
    pub requests: Counter,
    requests_left: OnceLock<Gauge>,
    tokens_left: OnceLock<Gauge>,
    max_budget: OnceLock<Gauge<f64, AtomicU64>>,
    budget_remaining: OnceLock<Gauge<f64, AtomicU64>>,
}

impl KeySeries {
    fn model_labels(&self) -> KeyModelLabels {
        KeyModelLabels {
            hashed_api_key: self.labels.hashed_api_key.clone(),
            api_key_alias: self.labels.api_key_alias.clone(),
            model: self.labels.model.clone(),
        }
    }

    fn budget_labels(&self) -> BudgetLabels {
        BudgetLabels {
            hashed_api_key: self.labels.hashed_api_key.clone(),
            api_key_alias: self.labels.api_key_alias.clone(),
        }
    }

    /// The key's remaining-requests gauge (made the first time it is asked for, so a key
    /// without a limit has no such series).
    pub fn requests_left(&self, m: &Metrics) -> &Gauge {
        self.requests_left.get_or_init(|| {
            m.key_requests_left
                .get_or_create(&self.model_labels())
                .clone()
        })
    }

    /// The key's remaining-tokens gauge (made on first use).
    pub fn tokens_left(&self, m: &Metrics) -> &Gauge {
        self.tokens_left.get_or_init(|| {
            m.key_tokens_left
                .get_or_create(&self.model_labels())
                .clone()
        })
    }

    /// The key's max-budget gauge (made on first use).
    pub fn max_budget(&self, m: &Metrics) -> &Gauge<f64, AtomicU64> {
        self.max_budget.get_or_init(|| {
            m.key_max_budget
                .get_or_create(&self.budget_labels())
                .clone()
        })
    }

    /// The key's remaining-budget gauge (made on first use).
    pub fn budget_remaining(&self, m: &Metrics) -> &Gauge<f64, AtomicU64> {
        self.budget_remaining.get_or_init(|| {
            m.key_budget_remaining
                .get_or_create(&self.budget_labels())
                .clone()
        })
    }
}

/// Labels of a key's budget gauges.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BudgetLabels {
    /// SHA-256 of the virtual key.
    pub hashed_api_key: String,
    /// The key's alias.
    pub api_key_alias: String,
}

/// Labels of a key's rate-limit gauges (LiteLLM's).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KeyModelLabels {
    /// SHA-256 of the virtual key.
    pub hashed_api_key: String,
    /// The key's alias.
    pub api_key_alias: String,
    /// The model group.
    pub model: String,
}

/// Labels of a log sink's gauges.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SinkLabels {
    /// The sink (`generic_api`, `file`, ...).
    pub sink: String,
}

/// Labels of a deployment's state (LiteLLM's `litellm_deployment_state`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeploymentLabels {
    /// Deployment id.
    pub model_id: String,
    /// Its model group.
    pub litellm_model_name: String,
    /// Its base URL.
    pub api_base: String,
    /// Its provider.
    pub api_provider: String,
}

/// Labels of fallback counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FallbackLabels {
    /// The model group asked for.
    pub requested_model: String,
    /// The group that answered.
    pub fallback_model: String,
}

/// Labels of latency histograms.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LatencyLabels {
    /// The model group.
    pub model_group: String,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~65 s, doubling.
    Histogram::new(exponential_buckets(0.0005, 2.0, 18))
}

fn overhead_histogram() -> Histogram {
    // 20 µs .. ~80 ms, doubling: the gateway's own time is sub-millisecond.
    Histogram::new(exponential_buckets(0.00002, 2.0, 13))
}

/// The series of one deployment, resolved once: recording is then an atomic add (counters)
/// or a short lock (histograms), with no label set built or hashed per request.
#[derive(Clone, Debug)]
pub struct DeploymentSeries {
    /// Usage and spend of requests without a key.
    pub usage: UsageCounters,
    /// Requests at cost 0 for want of a price.
    pub unpriced: Counter,
    /// Total latency of its model group.
    pub total_latency: Histogram,
    /// Provider latency of its model group.
    pub llm_api_latency: Histogram,
    /// Gateway overhead of its model group.
    pub overhead_latency: Histogram,
}

/// The gateway's metrics.
pub struct Metrics {
    registry: Registry,
    /// `litellm_proxy_total_requests_metric`.
    pub requests: Family<RequestLabels, Counter>,
    /// `litellm_proxy_failed_requests_metric`.
    pub failures: Family<FailureLabels, Counter>,
    /// `litellm_in_flight_requests`.
    pub in_flight: Gauge,
    /// `litellm_spend_metric` (USD).
    pub spend: Family<UsageLabels, Counter<f64, AtomicU64>>,
    /// `litellm_input_tokens_metric`.
    pub input_tokens: Family<UsageLabels, Counter>,
    /// `litellm_output_tokens_metric`.
    pub output_tokens: Family<UsageLabels, Counter>,
    /// `litellm_total_tokens_metric`.
    pub total_tokens: Family<UsageLabels, Counter>,
    /// `litellm_request_total_latency_metric` (seconds).
    pub total_latency: Family<LatencyLabels, Histogram, fn() -> Histogram>,
    /// `litellm_llm_api_latency_metric` (seconds).
    pub llm_api_latency: Family<LatencyLabels, Histogram, fn() -> Histogram>,
    /// `litellm_overhead_latency_metric` (seconds).
    pub overhead_latency: Family<LatencyLabels, Histogram, fn() -> Histogram>,
    /// `switchyard_unpriced_requests`: answered by a model with no price (cost 0).
    pub unpriced: Family<ModelLabels, Counter>,
    /// `litellm_requests_metric`: requests by key, team and user.
    pub key_requests: Family<KeyLabels, Counter>,
    /// `litellm_llm_api_time_to_first_token_metric` (seconds, streams).
    pub ttft: Family<LatencyLabels, Histogram, fn() -> Histogram>,
    /// `litellm_remaining_api_key_budget_metric` (USD).
    pub key_budget_remaining: Family<BudgetLabels, Gauge<f64, AtomicU64>>,
    /// `litellm_api_key_max_budget_metric` (USD).
    pub key_max_budget: Family<BudgetLabels, Gauge<f64, AtomicU64>>,
    /// `litellm_in_memory_spend_update_queue_size`: spend log rows waiting to be written.
    pub spend_queue: Gauge,
    /// `switchyard_spend_logs_dropped`: rows dropped because the queue was full (totals kept).
    pub spend_dropped: Gauge,
    /// `switchyard_limits_shared`: 1 while limits are counted in Redis.
    pub limits_shared: Gauge,
    /// `litellm_remaining_api_key_requests_for_model`: requests a key has left this minute.
    pub key_requests_left: Family<KeyModelLabels, Gauge>,
    /// `litellm_remaining_api_key_tokens_for_model`: tokens a key has left this minute.
    pub key_tokens_left: Family<KeyModelLabels, Gauge>,
    /// `switchyard_sink_queue_size`: records waiting for a log sink.
    pub sink_queue: Family<SinkLabels, Gauge>,
    /// `switchyard_sink_dropped_records`: records a sink's full queue or failed delivery lost.
    pub sink_dropped: Family<SinkLabels, Gauge>,
    /// `switchyard_sink_delivered_records`: records a sink took.
    pub sink_delivered: Family<SinkLabels, Gauge>,
    /// `litellm_deployment_state`: 0 healthy, 2 cooling down (complete outage).
    pub deployment_state: Family<DeploymentLabels, Gauge>,
    /// `litellm_deployment_successful_fallbacks`: answers a fallback group gave.
    pub fallbacks: Family<FallbackLabels, Counter>,
    /// `switchyard_attempted_retries`: failed attempts retried before an answer, by group.
    pub retries: Family<LatencyLabels, Counter>,
    /// The usage counters of each key's label sets, found in one lookup per request (the
    /// families would take four, each hashing and comparing the nine labels).
    keyed_usage: Cache<UsageLabels, UsageCounters>,
    key_series: Cache<KeyLabels, KeySeries>,
    request_counters: Cache<RequestLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// All metrics, registered.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let failures = Family::<FailureLabels, Counter>::default();
        let in_flight = Gauge::default();
        let spend = Family::<UsageLabels, Counter<f64, AtomicU64>>::default();
        let input_tokens = Family::<UsageLabels, Counter>::default();
        let output_tokens = Family::<UsageLabels, Counter>::default();
        let total_tokens = Family::<UsageLabels, Counter>::default();
        let total_latency = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let llm_api_latency = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let overhead_latency =
            Family::new_with_constructor(overhead_histogram as fn() -> Histogram);
        let unpriced = Family::<ModelLabels, Counter>::default();
        let key_requests = Family::<KeyLabels, Counter>::default();
        let ttft = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let key_budget_remaining = Family::<BudgetLabels, Gauge<f64, AtomicU64>>::default();
        let key_max_budget = Family::<BudgetLabels, Gauge<f64, AtomicU64>>::default();
        let spend_queue = Gauge::default();
        let spend_dropped = Gauge::default();
        let limits_shared = Gauge::default();
        let key_requests_left = Family::<KeyModelLabels, Gauge>::default();
        let key_tokens_left = Family::<KeyModelLabels, Gauge>::default();
        registry.register(
            "litellm_remaining_api_key_requests_for_model",
            "Requests a virtual key has left in its rate-limit window",
            key_requests_left.clone(),
        );
        registry.register(
            "litellm_remaining_api_key_tokens_for_model",
            "Tokens a virtual key has left in its rate-limit window",
            key_tokens_left.clone(),
        );
        let sink_queue = Family::<SinkLabels, Gauge>::default();
        let sink_dropped = Family::<SinkLabels, Gauge>::default();
        let sink_delivered = Family::<SinkLabels, Gauge>::default();
        let deployment_state = Family::<DeploymentLabels, Gauge>::default();
        let fallbacks = Family::<FallbackLabels, Counter>::default();
        let retries = Family::<LatencyLabels, Counter>::default();
        registry.register(
            "switchyard_sink_queue_size",
            "Records waiting for a log sink",
            sink_queue.clone(),
        );
        registry.register(
            "switchyard_sink_dropped_records",
            "Records a log sink lost (queue full, or delivery failed after retries)",
            sink_dropped.clone(),
        );
        registry.register(
            "switchyard_sink_delivered_records",
            "Records a log sink took",
            sink_delivered.clone(),
        );
        registry.register(
            "litellm_deployment_state",
            "Deployment state: 0 healthy, 2 cooling down",
            deployment_state.clone(),
        );
        registry.register(
            "litellm_deployment_successful_fallbacks",
            "Requests answered by a fallback model group",
            fallbacks.clone(),
        );
        registry.register(
            "switchyard_attempted_retries",
            "Failed attempts retried before a request was answered",
            retries.clone(),
        );
        registry.register(
            "litellm_requests_metric",
            "Requests by virtual key, team and user",
            key_requests.clone(),
        );
        registry.register(
            "litellm_llm_api_time_to_first_token_metric",
            "Seconds to the provider's first stream bytes",
            ttft.clone(),
        );
        registry.register(
            "litellm_remaining_api_key_budget_metric",
            "Budget left on a virtual key, USD (current period)",
            key_budget_remaining.clone(),
        );
        registry.register(
            "litellm_api_key_max_budget_metric",
            "Budget of a virtual key, USD",
            key_max_budget.clone(),
        );
        registry.register(
            "litellm_in_memory_spend_update_queue_size",
            "Spend log rows waiting to be written",
            spend_queue.clone(),
        );
        registry.register(
            "switchyard_spend_logs_dropped",
            "Spend log rows dropped because the queue was full (totals are kept)",
            spend_dropped.clone(),
        );
        registry.register(
            "switchyard_limits_shared",
            "1 while rate limits and budgets are counted in Redis",
            limits_shared.clone(),
        );
        registry.register(
            "litellm_proxy_total_requests_metric",
            "Requests answered by the gateway",
            requests.clone(),
        );
        registry.register(
            "litellm_proxy_failed_requests_metric",
            "Requests that failed",
            failures.clone(),
        );
        registry.register(
            "litellm_in_flight_requests",
            "Requests being served now",
            in_flight.clone(),
        );
        registry.register("litellm_spend_metric", "Spend in USD", spend.clone());
        registry.register(
            "litellm_input_tokens_metric",
            "Input (prompt) tokens",
            input_tokens.clone(),
        );
        registry.register(
            "litellm_output_tokens_metric",
            "Output (completion) tokens",
            output_tokens.clone(),
        );
        registry.register(
            "litellm_total_tokens_metric",
            "Input plus output tokens",
            total_tokens.clone(),
        );
        registry.register(
            "litellm_request_total_latency_metric",
            "Seconds from request to response end, as the gateway sees it",
            total_latency.clone(),
        );
        registry.register(
            "litellm_llm_api_latency_metric",
            "Seconds spent waiting on the provider",
            llm_api_latency.clone(),
        );
        registry.register(
            "litellm_overhead_latency_metric",
            "Seconds the gateway added (total minus provider)",
            overhead_latency.clone(),
        );
        registry.register(
            "switchyard_unpriced_requests",
            "Requests answered by a model with no price (recorded at cost 0)",
            unpriced.clone(),
        );
        Metrics {
            registry,
            requests,
            failures,
            in_flight,
            spend,
            input_tokens,
            output_tokens,
            total_tokens,
            total_latency,
            llm_api_latency,
            overhead_latency,
            unpriced,
            key_requests,
            ttft,
            key_budget_remaining,
            key_max_budget,
            spend_queue,
            spend_dropped,
            limits_shared,
            key_requests_left,
            key_tokens_left,
            sink_queue,
            sink_dropped,
            sink_delivered,
            deployment_state,
            fallbacks,
            retries,
            keyed_usage: Cache::default(),
            key_series: Cache::default(),
            request_counters: Cache::default(),
        }
    }

    /// The series of a deployment (`model` at `provider`, serving `model_group`).
    pub fn deployment_series(
        &self,
        model: &str,
        model_group: &str,
        provider: &str,
    ) -> DeploymentSeries {
        let labels = ModelLabels {
            model: model.to_owned(),
            model_group: model_group.to_owned(),
            api_provider: provider.to_owned(),
        };
        let group = LatencyLabels {
            model_group: model_group.to_owned(),
        };
        DeploymentSeries {
            usage: self.usage(&UsageLabels {
                model: model.to_owned(),
                model_group: model_group.to_owned(),
                api_provider: provider.to_owned(),
                ..UsageLabels::default()
            }),
            unpriced: self.unpriced.get_or_create(&labels).clone(),
            total_latency: self.total_latency.get_or_create(&group).clone(),
            llm_api_latency: self.llm_api_latency.get_or_create(&group).clone(),
            overhead_latency: self.overhead_latency.get_or_create(&group).clone(),
        }
    }

    /// The usage and spend counters of a request's label set, made on first use.
    pub fn keyed_usage(&self, labels: &UsageLabelsRef<'_>) -> Arc<UsageCounters> {
        cached(&self.keyed_usage, labels, UsageLabelsRef::owned, |o| {
            self.usage(o)
        })
    }

    /// A key's series for `labels`, found by borrowed labels once made: a governed request
    /// would otherwise build and hash up to thirteen label strings in five families.
    pub fn key_series(&self, labels: &KeyLabelsRef<'_>) -> Arc<KeySeries> {
        cached(&self.key_series, labels, KeyLabelsRef::owned, |o| {
            KeySeries {
                requests: self.key_requests.get_or_create(o).clone(),
                labels: o.clone(),
                requests_left: OnceLock::new(),
                tokens_left: OnceLock::new(),
                max_budget: OnceLock::new(),
                budget_remaining: OnceLock::new(),
            }
        })
    }

    /// `litellm_requests_metric`'s counter for `labels`, found by borrowed labels once made.
    pub fn requests(&self, labels: &RequestLabelsRef<'_>) -> Arc<Counter> {
        cached(
            &self.request_counters,
            labels,
            RequestLabelsRef::owned,
            |o| self.requests.get_or_create(o).clone(),
        )
    }

    /// The usage and spend counters of one label set.
    pub fn usage(&self, labels: &UsageLabels) -> UsageCounters {
        UsageCounters {
            input_tokens: self.input_tokens.get_or_create(labels).clone(),
            output_tokens: self.output_tokens.get_or_create(labels).clone(),
            total_tokens: self.total_tokens.get_or_create(labels).clone(),
            spend: self.spend.get_or_create(labels).clone(),
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(4096);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Series already resolved, by their labels: a lock-free map (papaya), so requests on
/// several workers read it without writing to a shared lock word (with `RwLock` every read
/// did, and two threads reading took five times as long each), hashed with foldhash.
type Cache<K, V> = papaya::HashMap<K, Arc<V>, hashbrown::DefaultHashBuilder>;

/// What `map` holds for the borrowed `labels`, made by `make` from the owned labels the
/// first time (two requests racing may both make it; the first stored wins).
fn cached<K, Q, V>(
    map: &Cache<K, V>,
    labels: &Q,
    owned: impl FnOnce(&Q) -> K,
    make: impl FnOnce(&K) -> V,
) -> Arc<V>
where
    K: std::hash::Hash + Eq + Send + Sync,
    V: Send + Sync,
    Q: std::hash::Hash + papaya::Equivalent<K>,
{
    let map = map.pin();
    if let Some(v) = map.get(labels) {
        return Arc::clone(v);
    }
    let owned = owned(labels);
    let made = Arc::new(make(&owned));
    Arc::clone(map.get_or_insert(owned, made))
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_keys_usage_counters_are_found_again_and_exported_with_its_labels() {
        let m = Metrics::new();
        let labels = |alias| UsageLabelsRef {
            model: "gpt-4o",
            model_group: "gpt",
            api_provider: "openai",
            end_user: "",
            hashed_api_key: "ab12",
            api_key_alias: alias,
            team: "t1",
            team_alias: "search",
            user: "u1",
        };
        let a = m.keyed_usage(&labels("ci"));
        a.input_tokens.inc_by(5);
        let again = m.keyed_usage(&labels("ci"));
        assert!(Arc::ptr_eq(&a, &again));
        // The borrowed labels find the family's own series.
        let owned = labels("ci").owned();
        assert_eq!(m.input_tokens.get_or_create(&owned).get(), 5);
        // A renamed key is a new series.
        let renamed = m.keyed_usage(&labels("ci-2"));
        assert!(!Arc::ptr_eq(&a, &renamed));
        let text = m.encode();
        assert!(
            text.contains(r#"api_key_alias="ci",team="t1",team_alias="search",user="u1"} 5"#),
            "{text}"
        );
    }

    #[test]
    fn request_counters_are_found_again_by_borrowed_labels() {
        let m = Metrics::new();
        let labels = |status_code| RequestLabelsRef {
            requested_model: "gpt",
            model_group: "gpt",
            model_id: "d1",
            status_code,
            route: "/chat/completions",
            stream: "false",
        };
        let ok = m.requests(&labels("200"));
        ok.inc();
        assert!(Arc::ptr_eq(&ok, &m.requests(&labels("200"))));
        m.requests(&labels("429")).inc();
        assert_eq!(m.requests.get_or_create(&labels("200").owned()).get(), 1);
        let text = m.encode();
        assert!(
            text.contains(r#"status_code="200",route="/chat/completions",stream="false"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"status_code="429""#), "{text}");
    }

    #[test]
    fn a_keys_series_are_found_again_and_its_gauges_exist_only_once_used() {
        let m = Metrics::new();
        let labels = |model| KeyLabelsRef {
            end_user: "",
            hashed_api_key: "ab12",
            api_key_alias: "ci",
            requested_model: "gpt",
            model,
            team: "t1",
            team_alias: "search",
            user: "u1",
        };
        let a = m.key_series(&labels("gpt"));
        a.requests.inc();
        let again = m.key_series(&labels("gpt"));
        assert!(Arc::ptr_eq(&a, &again));
        again.requests.inc();
        assert_eq!(
            m.key_requests.get_or_create(&labels("gpt").owned()).get(),
            2
        );
        // No limit gauges until a limited request sets them.
        let text = m.encode();
        assert!(
            !text.contains("ab12\",api_key_alias=\"ci\",model=\"gpt\"}"),
            "{text}"
        );
        a.requests_left(&m).set(41);
        a.max_budget(&m).set(10.0);
        a.budget_remaining(&m).set(7.5);
        let model_labels = KeyModelLabels {
            hashed_api_key: "ab12".into(),
            api_key_alias: "ci".into(),
            model: "gpt".into(),
        };
        assert_eq!(m.key_requests_left.get_or_create(&model_labels).get(), 41);
        let budget = BudgetLabels {
            hashed_api_key: "ab12".into(),
            api_key_alias: "ci".into(),
        };
        assert_eq!(m.key_budget_remaining.get_or_create(&budget).get(), 7.5);
        // Another model group is another series.
        let other = m.key_series(&labels("claude"));
        assert!(!Arc::ptr_eq(&a, &other));
    }
}
