//! The API's shared state ([`AppState`]: the manager, the socket fan-out hubs and the counters)
//! and the settings read from the configuration in force on each request ([`ApiSettings`]).

use parkmesh_manager::P2PManager;
use parkmesh_parking::plate::PlatePolicy;
use parkmesh_storage::Storage;

use crate::counters::ApiMetrics;
use crate::hub::Hubs;
use crate::reply::ApiError;

/// The settings the API reads from the configuration. They are taken from the manager's
/// configuration in force on every request ([`AppState::settings`]), so a change saved through
/// `PUT /api/p2p/config` applies to the next request; nothing is copied at start.
#[derive(Debug, Clone)]
pub(crate) struct ApiSettings {
    /// Site time zone: the one the database was opened with, which renders the stored history
    /// texts, so every time the API shows agrees with them (a new `timezone` needs a restart).
    pub(crate) tz: jiff::tz::TimeZone,
    /// Plate validation policy.
    pub(crate) plate_policy: PlatePolicy,
    /// How an exit of a plate with no open session is matched (`exit_match`).
    pub(crate) exit_match: parkmesh_parking::plate::ExitMatch,
    /// How long a car may stay before it is an overstay (ms): `max_stay_hours`; `None` = off.
    pub(crate) max_stay_ms: Option<i64>,
    /// How far in the future an edge timestamp is honoured (ms): `max_clock_skew_secs`.
    pub(crate) max_skew_ms: i64,
    /// How far in the past an edge timestamp is honoured (ms): `max_event_age_secs`.
    pub(crate) max_age_ms: i64,
}

impl ApiSettings {
    fn from_config(config: &parkmesh_config::Config, tz: &jiff::tz::TimeZone) -> Self {
        let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Self {
            tz: tz.clone(),
            plate_policy: config.plate_policy(),
            exit_match: config.exit_match(),
            max_stay_ms: config.max_stay().map(ms),
            max_skew_ms: ms(config.max_clock_skew()),
            max_age_ms: ms(config.max_event_age()),
        }
    }
}

/// Shared state of the API.
#[derive(Clone)]
pub struct AppState {
    pub(crate) manager: P2PManager,
    pub(crate) hubs: Hubs,
    pub(crate) metrics: ApiMetrics,
}

impl AppState {
    /// Builds the state and starts the socket fan-out task. Settings are read from `manager`'s
    /// configuration in force on each request.
    pub fn new(manager: P2PManager) -> Self {
        let hubs = Hubs::new();
        hubs.spawn_forwarder(manager.storage());
        Self {
            manager,
            hubs,
            metrics: ApiMetrics::default(),
        }
    }

    /// The API settings of the configuration in force now.
    pub(crate) fn settings(&self) -> ApiSettings {
        ApiSettings::from_config(&self.manager.config(), self.storage().tz())
    }

    /// Reads only: every write goes through [`AppState::append`].
    pub(crate) fn storage(&self) -> &Storage {
        self.manager.storage()
    }

    /// The one door for writes: the manager appends (the path an embedder uses too) and the
    /// storage commits and returns the typed outcome, which the caller renders.
    pub(crate) async fn append(
        &self,
        intent: parkmesh_storage::Intent,
    ) -> Result<parkmesh_storage::Ingested, ApiError> {
        Ok(self.manager.append(intent).await?)
    }

    /// The TLS client for calls to peers' APIs, when the cluster's APIs run TLS.
    pub(crate) fn tls_client(&self) -> Option<&parkmesh_transport::tls::TlsClient> {
        self.manager.api_tls().map(|t| &t.client)
    }

    /// `http` or `https`: the scheme of this central's API (and every peer's).
    pub(crate) fn api_scheme(&self) -> &'static str {
        if self.manager.api_tls().is_some() {
            "https"
        } else {
            "http"
        }
    }
}
