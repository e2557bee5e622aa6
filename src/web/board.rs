//! The live board for staff: `/board` draws it, `/board/live` redraws its body when an
//! event arrives (htmx, triggered by `/events`), `/presence` sets one's availability.

use super::form::Form;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::charts::{self, Bar, Slice};
use super::public::AfterQuery;
use super::{PageCtx, is_htmx, require_ready};
use crate::app::AppState;
use crate::auth::extract::WebAuth;
use crate::calls::board::{self, Board, PRESENCE};
use crate::error::{AppError, AppResult};

#[derive(Template, WebTemplate)]
#[template(path = "board/index.html")]
/// The `board/index.html` template.
pub struct BoardPage {
    page: PageCtx,
    board: Board,
    charts: Charts,
    presence: String,
    presences: [&'static str; 3],
    after: i64,
    /// The viewer asked for escalation alerts (sound, desktop notification).
    notify: bool,
    /// The "start a call" form as typed, and what is wrong with it.
    start: super::teamwork::StartForm,
    start_error: Option<&'static str>,
}

#[derive(Template, WebTemplate)]
#[template(path = "board/_live.html")]
/// The `board/_live.html` fragment.
pub struct BoardPartial {
    page: PageCtx,
    board: Board,
    charts: Charts,
}

/// The board's charts, drawn.
pub struct Charts {
    /// Calls per hour.
    bars: Vec<Bar>,
    /// Sentiment mix.
    mix: Vec<Slice>,
}

impl Charts {
    fn of(board: &Board) -> Self {
        Self { bars: charts::hourly_bars(&board.per_hour), mix: charts::mix(&board.sentiment) }
    }
}

fn my_department(auth: &WebAuth) -> Option<crate::agents::Department> {
    auth.user.department.as_deref().and_then(crate::agents::Department::parse)
}

/// `GET /board`.
pub async fn board_get(State(state): State<AppState>, auth: WebAuth, headers: HeaderMap) -> AppResult<BoardPage> {
    require_ready(&auth)?;
    board::touch(&state, &auth.principal).await?;
    board_page(&state, &auth, &headers, super::teamwork::StartForm::default(), None).await
}

/// The board page, with the "start a call" form as typed and its problem, if any.
pub async fn board_page(
    state: &AppState,
    auth: &WebAuth,
    headers: &HeaderMap,
    start: super::teamwork::StartForm,
    start_error: Option<&'static str>,
) -> AppResult<BoardPage> {
    let after = state.bus().latest_id().await?;
    let board = board::load(state, my_department(auth)).await?;
    Ok(BoardPage {
        page: PageCtx::new(&auth.session, headers, Some(&auth.principal), "board").await?,
        charts: Charts::of(&board),
        board,
        presence: board::my_presence(state.db(), auth.principal.id).await?,
        presences: PRESENCE,
        after,
        notify: auth.user.notify_escalations,
        start,
        start_error,
    })
}

/// `GET /board/live`: the board's body.
pub async fn board_live_get(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
) -> AppResult<BoardPartial> {
    require_ready(&auth)?;
    board::touch(&state, &auth.principal).await?;
    let board = board::load(&state, my_department(&auth)).await?;
    Ok(BoardPartial {
        page: PageCtx::new(&auth.session, &headers, Some(&auth.principal), "board").await?,
        charts: Charts::of(&board),
        board,
    })
}

/// The presence form.
#[derive(Debug, Deserialize)]
pub struct PresenceForm {
    #[serde(default)]
    status: String,
}

/// `POST /presence`.
pub async fn presence_post(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    Form(form): Form<PresenceForm>,
) -> AppResult<Response> {
    require_ready(&auth)?;
    board::set_presence(&state, &auth.principal, &form.status).await?;
    if is_htmx(&headers) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    Ok(Redirect::to("/board").into_response())
}

/// `GET /events`: the staff event stream for pages (session sign-in); the same events
/// as `GET /api/v1/events`.
pub async fn events_get(
    State(state): State<AppState>,
    auth: WebAuth,
    headers: HeaderMap,
    Query(q): Query<AfterQuery>,
) -> AppResult<Response> {
    if auth.principal.must_change_password {
        return Err(AppError::PasswordChangeRequired);
    }
    let after = crate::sse::last_event_id(&headers).or(q.after());
    let holder = auth.holder(&state).await?.ok_or(AppError::Unauthorized)?;
    crate::sse::staff_stream(&state, after, holder).await
}
