//! The fee table as the api reads and changes it: the replicated `"fees"` setting is read here
//! and nowhere else in this crate, and a partial update (`fee_base`, `fee_per_hour`) is merged
//! over the table in force and validated in one place, whichever endpoint carries it
//! (`PUT /api/parking/fees` or the `parking` section of `POST /api/config`).

use parkmesh_parking::payload::{Payload, Tariff};
use parkmesh_storage::Intent;
use serde_json::{Map, Value};

use crate::fields::{opt_f64, opt_i64};
use crate::reply::ApiError;
use crate::state::AppState;

/// The settings key under which storage keeps the last `fees.set` payload.
const SETTING: &str = "fees";

/// The stored fee table; `None` when none was ever set (the seed default is in force). A
/// stored value that no longer decodes reads as the default, as the seed did.
pub(crate) async fn stored(state: &AppState) -> Result<Option<Tariff>, ApiError> {
    Ok(state
        .storage()
        .setting(SETTING)
        .await?
        .map(|(v, _)| serde_json::from_value::<Tariff>(v).unwrap_or_default()))
}

/// The fee table in force: the stored one, else the seed default.
pub(crate) async fn in_force(state: &AppState) -> Result<Tariff, ApiError> {
    Ok(stored(state).await?.unwrap_or_default())
}

/// `current` with the fields of `fields` that are present (`fee_base` in hours,
/// `fee_per_hour` in VND), validated; errors name the field under `section`.
pub(crate) fn merge(
    current: &Tariff,
    fields: &Map<String, Value>,
    section: &str,
) -> Result<Tariff, ApiError> {
    let tariff = Tariff {
        fee_base: opt_f64(fields, section, "fee_base")?.unwrap_or(current.fee_base),
        fee_per_hour: opt_i64(fields, section, "fee_per_hour")?.unwrap_or(current.fee_per_hour),
    };
    tariff
        .validate()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(tariff)
}

/// Puts `tariff` in force everywhere: a replicated `fees.set` event.
pub(crate) async fn set(state: &AppState, tariff: &Tariff) -> Result<(), ApiError> {
    state
        .append(Intent::Event {
            kind: Tariff::KIND,
            payload: tariff.to_value(),
        })
        .await?;
    Ok(())
}
