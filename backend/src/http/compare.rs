//! `GET /compare?runs=A,B`: two runs compared on the samples they share (per setting and task:
//! accuracy difference, paired bootstrap interval, exact McNemar test).

use axum::Json;
use axum::extract::State;
use omnireward_shared::BootstrapConfig;
use omnireward_shared::comparison::RunComparison;
use serde::Deserialize;

use super::{ApiError, ApiQuery, AppState};
use crate::evaluation::comparison::compare_runs;
use crate::storage::RunId;

/// The raw query of `GET /compare`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct CompareQuery {
    runs: Option<String>,
}

/// The two run ids of `runs=A,B`.
fn parse_runs(runs: Option<&str>) -> Result<(RunId, RunId), ApiError> {
    let invalid = |value: &str| ApiError::InvalidParameter {
        parameter: "runs",
        value: value.to_owned(),
        expected: "two different run ids separated by a comma, e.g. `runs=3,7`".to_owned(),
    };
    let value = runs.unwrap_or_default();
    let ids: Vec<i64> = value
        .split(',')
        .map(|id| id.trim().parse::<i64>())
        .collect::<Result<_, _>>()
        .map_err(|_| invalid(value))?;
    match ids.as_slice() {
        [first, second] if first != second => Ok((RunId(*first), RunId(*second))),
        _ => Err(invalid(value)),
    }
}

/// `GET /compare`.
#[utoipa::path(
    get,
    path = "/compare",
    tag = "runs",
    params(("runs" = String, Query,
            description = "Two run ids, `A,B`: differences are A's accuracy minus B's.")),
    responses(
        (status = 200, description = "Per setting and task, the paired comparison of the two runs.",
         body = omnireward_shared::comparison::RunComparison),
        (status = 400, description = "`runs` is not two different ids.", body = super::error::ErrorBody),
        (status = 404, description = "No such run.", body = super::error::ErrorBody),
        (status = 422, description = "A run without per-item judgements, or no shared sample.",
         body = super::error::ErrorBody),
    )
)]
pub(super) async fn compare(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<CompareQuery>,
) -> Result<Json<RunComparison>, ApiError> {
    let (first, second) = parse_runs(query.runs.as_deref())?;
    Ok(Json(
        compare_runs(&state.storage, first, second, BootstrapConfig::default()).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_two_different_ids() {
        assert!(matches!(parse_runs(Some("3, 7")), Ok((RunId(3), RunId(7)))));
        for bad in [
            None,
            Some(""),
            Some("3"),
            Some("3,3"),
            Some("3,x"),
            Some("1,2,3"),
        ] {
            assert!(parse_runs(bad).is_err(), "{bad:?}");
        }
    }
}
