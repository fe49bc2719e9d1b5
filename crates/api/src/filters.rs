//! The warp filters the routes share: the state, the size-limited body, the admin rule and the
//! name of who made an admin change; and [`ClientAddr`], the client's address the accept loop
//! puts in each request.

use std::convert::Infallible;
use std::net::SocketAddr;

use parkmesh_config::{AdminDenied, AdminGrant};
use warp::Filter;

use crate::reply::{ApiError, MAX_BODY};
use crate::state::AppState;

/// The address of the client a request came from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub(crate) SocketAddr);

pub(crate) fn with_state(
    state: AppState,
) -> impl Filter<Extract = (AppState,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

pub(crate) fn body() -> impl Filter<Extract = (bytes::Bytes,), Error = warp::Rejection> + Clone {
    warp::body::content_length_limit(MAX_BODY).and(warp::body::bytes())
}

/// The admin rule ([`parkmesh_config::Config::authorize_admin`], applied to the configuration in
/// force): extracts how the caller was allowed, for the audit trail. A missing token is a 401,
/// a wrong token or an address outside `admin_networks` a 403.
pub(crate) fn admin_as(
    state: AppState,
) -> impl Filter<Extract = (AdminGrant,), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("authorization")
        .and(warp::ext::optional::<ClientAddr>())
        .and_then(move |auth: Option<String>, remote: Option<ClientAddr>| {
            let config = state.manager.config();
            async move {
                config
                    .authorize_admin(remote.map(|r| r.0.ip()), auth.as_deref())
                    .map_err(|denied| {
                        let message = denied.to_string();
                        warp::reject::custom(match denied {
                            AdminDenied::MissingToken => ApiError::Unauthorized(message),
                            AdminDenied::WrongToken | AdminDenied::NotAdminNetwork { .. } => {
                                ApiError::Forbidden(message)
                            }
                        })
                    })
            }
        })
}

/// [`admin_as`] for routes that do not record who made the change.
pub(crate) fn admin(state: AppState) -> impl Filter<Extract = (), Error = warp::Rejection> + Clone {
    admin_as(state).map(|_| ()).untuple_one()
}

/// Who made an admin change: the `X-Operator` header when given (control characters removed,
/// at most 64 characters), else how the caller was allowed ([`AdminGrant::identity`]).
pub(crate) fn operator_name(grant: AdminGrant, header: Option<String>) -> String {
    header
        .map(|h| {
            h.chars()
                .filter(|c| !c.is_control())
                .take(64)
                .collect::<String>()
        })
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| grant.identity())
}
