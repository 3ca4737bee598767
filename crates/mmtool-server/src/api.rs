//! The JSON API handlers and the OpenAPI document generated from them.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use mmtool_catalog::ToolCard;
use mmtool_data::Modality;
use mmtool_recommend::Query as RecQuery;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::error::{self, ApiError, ErrorBody};
use crate::media::{self, MediaInfo, SNIFF_LEN};
use crate::AppState;

/// Longest instruction accepted, in characters.
pub const MAX_INSTRUCTION_CHARS: usize = 4000;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "mmtool",
        description = "Recommends the machine-learning model (tool) that fits a request and its attached media."
    ),
    paths(recommend, list_tools, get_tool, healthz, metrics, openapi),
    components(schemas(
        RecommendRequest,
        RecommendResponse,
        RankedTool,
        Timing,
        MediaInfo,
        Tool,
        ToolPage,
        Health,
        ErrorBody
    ))
)]
pub struct ApiDoc;

/// JSON form of a recommendation request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecommendRequest {
    /// The request, in plain words.
    #[schema(example = "translate this German sentence into English")]
    pub instruction: Option<String>,
    /// How many tools to list (default 5).
    #[schema(minimum = 1)]
    pub top_k: Option<u32>,
    /// What the request is about when no file is attached: `text`, `image`,
    /// `audio` or `video` (default `text`).
    #[schema(value_type = Option<String>, example = "text")]
    pub modality: Option<Modality>,
}

/// Multipart form of a recommendation request (for file uploads).
#[derive(ToSchema)]
#[allow(dead_code)] // documents the form; the fields are read one by one
struct RecommendForm {
    /// The request, in plain words.
    instruction: String,
    /// An image, audio recording or video; its type is detected from its content.
    #[schema(value_type = Option<String>, format = Binary)]
    file: Option<Vec<u8>>,
    /// How many tools to list (default 5).
    top_k: Option<u32>,
    /// Declared modality when no file is attached.
    modality: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RankedTool {
    pub rank: usize,
    pub id: String,
    /// The backend's score (higher is better; scales differ between backends).
    pub score: f32,
    pub task: String,
    pub summary: String,
    pub api_call: String,
    #[schema(value_type = String)]
    pub input_modality: Modality,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Timing {
    /// Waiting for a free model slot.
    pub queue_ms: f64,
    /// Reading the upload and ranking.
    pub model_ms: f64,
    /// The whole request as the server saw it.
    pub total_ms: f64,
}

#[derive(Serialize, ToSchema)]
pub struct RecommendResponse {
    pub backend: String,
    pub instruction: String,
    /// The modality used: detected from the uploaded file, else as declared, else `text`.
    #[schema(value_type = String)]
    pub modality: Modality,
    /// The uploaded file, as the server read it.
    pub media: Option<MediaInfo>,
    /// The paper-format answer, e.g. `{'api_name': t5-base}`.
    pub response: String,
    pub ranked: Vec<RankedTool>,
    /// What the encoders found in the media, when the backend reports it.
    #[schema(value_type = Option<Object>)]
    pub findings: Option<serde_json::Value>,
    pub timing_ms: Timing,
}

/// A catalog entry.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Tool {
    pub id: String,
    pub task: String,
    pub domain: String,
    #[schema(value_type = String)]
    pub input_modality: Modality,
    pub output_modality: String,
    pub languages: Vec<String>,
    pub summary: String,
    pub tags: Vec<String>,
    pub api_call: String,
    pub confidence: String,
}

impl From<&ToolCard> for Tool {
    fn from(c: &ToolCard) -> Self {
        Tool {
            id: c.id.clone(),
            task: c.task.clone(),
            domain: c.domain.clone(),
            input_modality: c.input_modality,
            output_modality: c.output_modality.clone(),
            languages: c.languages.clone(),
            summary: c.summary.clone(),
            tags: c.tags.clone(),
            api_call: c.api_call.clone(),
            confidence: c.confidence.clone(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ToolPage {
    /// Tools matching the filters, over all pages.
    pub total: usize,
    pub offset: usize,
    pub limit: usize,
    pub tools: Vec<Tool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ToolsParams {
    /// Only tools with this HuggingFace task, e.g. `translation`.
    pub task: Option<String>,
    /// Only tools taking this input: `text`, `image`, `audio` or `video`.
    #[param(value_type = Option<String>)]
    pub modality: Option<Modality>,
    /// Tools to skip (default 0).
    pub offset: Option<usize>,
    /// Page size (default 50, at most 500).
    pub limit: Option<usize>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub backend: String,
    pub tools: usize,
}

/// Recommend tools for a request, optionally with an attached file.
#[utoipa::path(
    post,
    path = "/v1/recommend",
    request_body(
        description = "JSON, or multipart/form-data when a file is attached",
        content(
            (RecommendRequest = "application/json"),
            (RecommendForm = "multipart/form-data")
        )
    ),
    responses(
        (status = 200, description = "Ranked tools", body = RecommendResponse),
        (status = 400, description = "Malformed JSON or multipart body", body = ErrorBody),
        (status = 413, description = "Body over the size limit", body = ErrorBody),
        (status = 415, description = "Unsupported content type or media format", body = ErrorBody),
        (status = 422, description = "Missing instruction, wrong field type, corrupt media", body = ErrorBody),
        (status = 503, description = "The request timed out", body = ErrorBody)
    )
)]
pub async fn recommend(
    State(state): State<Arc<AppState>>,
    req: Request,
) -> Result<Json<RecommendResponse>, ApiError> {
    let started = Instant::now();
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let input = if content_type == "application/json" {
        let body = Json::<RecommendRequest>::from_request(req, &())
            .await
            .map_err(|r: JsonRejection| error::from_json_rejection(r, state.config.body_limit))?
            .0;
        Input {
            instruction: body.instruction,
            top_k: body.top_k.map(|k| k as usize),
            modality: body.modality,
            upload: None,
        }
    } else if content_type == "multipart/form-data" {
        let mp = Multipart::from_request(req, &state)
            .await
            .map_err(error::from_multipart_rejection)?;
        read_form(&state, mp).await?
    } else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_content_type",
            format!(
                "send the request as application/json or multipart/form-data, not {}",
                if content_type.is_empty() {
                    "without a Content-Type"
                } else {
                    &content_type
                }
            ),
        ));
    };

    let instruction = input.instruction.as_deref().map(str::trim).unwrap_or("");
    if instruction.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_instruction",
            "the field \"instruction\" is missing or empty; say what you want done",
        ));
    }
    let chars = instruction.chars().count();
    if chars > MAX_INSTRUCTION_CHARS {
        return Err(ApiError::invalid_field(format!(
            "\"instruction\" has {chars} characters; at most {MAX_INSTRUCTION_CHARS} are accepted"
        )));
    }
    let max_k = state.config.max_top_k;
    let k = input.top_k.unwrap_or(state.config.default_top_k);
    if k == 0 || k > max_k {
        return Err(ApiError::invalid_field(format!(
            "\"top_k\" must be from 1 to {max_k}, got {k}"
        )));
    }
    let instruction = instruction.to_string();
    let declared = input.modality;
    let upload = input.upload;

    let queued = Instant::now();
    let permit = state
        .model_slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| ApiError::internal("the server is shutting down"))?;
    let queue = queued.elapsed();
    state.metrics.queue_wait.observe(queue.as_secs_f64());

    let work_state = state.clone();
    let work = tokio::task::spawn_blocking(move || {
        // The permit and the temp file live until the model is done, even if
        // the request has timed out meanwhile: the slot stays taken and the
        // upload stays readable for exactly as long as they are in use.
        let _permit = permit;
        let t = Instant::now();
        let media_info = match &upload {
            Some(u) => {
                let (modality, mime) = media::sniff(&u.head)?;
                if let Some(d) = declared.filter(|d| *d != modality) {
                    return Err(ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "modality_mismatch",
                        format!(
                            "\"modality\" says {d} but the uploaded file is {mime} ({modality})"
                        ),
                    ));
                }
                Some(media::inspect(u.file.path(), modality, mime, u.bytes)?)
            }
            None => None,
        };
        let perceived = match (&upload, &media_info, &work_state.perceive) {
            (Some(u), Some(info), Some(perceive)) => {
                Some(perceive(u.file.path(), info.modality).map_err(|e| {
                    ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "unreadable_media",
                        format!("the encoders cannot read the uploaded file: {e:#}"),
                    )
                })?)
            }
            _ => None,
        };
        let (media_features, findings, media_hint, shortlist_hint) = match perceived {
            Some(p) => (Some(p.features), Some(p.findings), p.hint, p.shortlist_hint),
            None => (None, None, None, None),
        };
        let query = RecQuery {
            instruction,
            modality: media_info
                .as_ref()
                .map(|m| m.modality)
                .or(declared)
                .unwrap_or(Modality::Text),
            media: upload.as_ref().map(|u| u.file.path().to_path_buf()),
            media_features,
            media_hint,
            shortlist_hint,
        };
        let metrics = &work_state.metrics;
        metrics.model_inflight.inc();
        let rec = work_state.backend.recommend(&query, k);
        metrics.model_inflight.dec();
        // What the encoders found, plus what the backend says it did with it.
        let rec = rec.map(|mut rec| {
            if let Some(f) = findings {
                rec.add_encoder_findings(f);
            }
            rec
        });
        let elapsed = t.elapsed();
        metrics.model_seconds.observe(elapsed.as_secs_f64());
        drop(upload);
        let rec = rec.map_err(|e| ApiError::internal(format!("the recommender failed: {e:#}")))?;
        Ok((query, media_info, rec, elapsed))
    });
    let (query, media_info, rec, model_time) = work
        .await
        .map_err(|e| ApiError::internal(format!("the recommender stopped unexpectedly: {e}")))??;

    let catalog = state.backend.catalog();
    let ranked = rec
        .ranked
        .iter()
        .filter_map(|s| match catalog.get(&s.id) {
            Some(c) => Some((s, c)),
            None => {
                tracing::warn!(id = %s.id, "backend ranked a tool that is not in the catalog");
                None
            }
        })
        .enumerate()
        .map(|(i, (s, c))| RankedTool {
            rank: i + 1,
            id: c.id.clone(),
            score: s.score,
            task: c.task.clone(),
            summary: c.summary.clone(),
            api_call: c.api_call.clone(),
            input_modality: c.input_modality,
        })
        .collect();
    Ok(Json(RecommendResponse {
        backend: state.backend.name().to_string(),
        response: rec.response_text(),
        instruction: query.instruction,
        modality: query.modality,
        media: media_info,
        ranked,
        findings: rec.findings,
        timing_ms: Timing {
            queue_ms: ms(queue),
            model_ms: ms(model_time),
            total_ms: ms(started.elapsed()),
        },
    }))
}

fn ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// A request's fields, from either body form.
struct Input {
    instruction: Option<String>,
    top_k: Option<usize>,
    modality: Option<Modality>,
    upload: Option<Upload>,
}

/// An uploaded file in a temp file that is deleted when this is dropped.
struct Upload {
    file: tempfile::NamedTempFile,
    head: Vec<u8>,
    bytes: u64,
}

async fn read_form(state: &AppState, mut mp: Multipart) -> Result<Input, ApiError> {
    let limit = state.config.body_limit;
    let mut input = Input {
        instruction: None,
        top_k: None,
        modality: None,
        upload: None,
    };
    let duplicate = |name: &str| {
        ApiError::invalid_field(format!("the form field \"{name}\" is given more than once"))
    };
    while let Some(mut field) = mp
        .next_field()
        .await
        .map_err(|e| error::from_multipart_error(e, limit))?
    {
        let name = field.name().unwrap_or("").to_string();
        match name.as_str() {
            "instruction" | "top_k" | "modality" => {
                let text = field
                    .text()
                    .await
                    .map_err(|e| error::from_multipart_error(e, limit))?;
                match name.as_str() {
                    "instruction" if input.instruction.is_some() => return Err(duplicate(&name)),
                    "instruction" => input.instruction = Some(text),
                    "top_k" if input.top_k.is_some() => return Err(duplicate(&name)),
                    "top_k" => {
                        let k = text.trim().parse::<usize>().map_err(|_| {
                            ApiError::invalid_field(format!(
                                "\"top_k\" must be a whole number, got {:?}",
                                clip(&text)
                            ))
                        })?;
                        input.top_k = Some(k);
                    }
                    _ if input.modality.is_some() => return Err(duplicate(&name)),
                    _ => {
                        input.modality =
                            Some(text.parse::<Modality>().map_err(|e| {
                                ApiError::invalid_field(format!("\"modality\": {e}"))
                            })?)
                    }
                }
            }
            "file" => {
                if input.upload.is_some() {
                    return Err(duplicate(&name));
                }
                // A form submitted with no file chosen sends an empty part
                // without a file name: that is no file, not an empty one.
                let no_file_chosen = field.file_name().is_none_or(str::is_empty);
                let upload = save_upload(state, &mut field).await?;
                match upload {
                    Some(u) => input.upload = Some(u),
                    None if no_file_chosen => {}
                    None => {
                        return Err(ApiError::new(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "empty_file",
                            "the uploaded file is empty",
                        ))
                    }
                }
            }
            other => {
                return Err(ApiError::invalid_field(format!(
                    "unknown form field {:?}; expected instruction, file, top_k or modality",
                    clip(other)
                )))
            }
        }
    }
    Ok(input)
}

/// Streams a file field into a fresh temp file (named by the server, never
/// after the client's file name). `None` when the field is empty.
async fn save_upload(
    state: &AppState,
    field: &mut axum::extract::multipart::Field<'_>,
) -> Result<Option<Upload>, ApiError> {
    let limit = state.config.body_limit;
    let dir = state
        .config
        .upload_dir
        .clone()
        .unwrap_or_else(std::env::temp_dir);
    let tmp = tempfile::Builder::new()
        .prefix("mmtool-upload-")
        .tempfile_in(&dir)
        .map_err(|e| {
            ApiError::internal(format!(
                "cannot create a temp file in {}: {e}",
                dir.display()
            ))
        })?;
    let std_file = tmp
        .reopen()
        .map_err(|e| ApiError::internal(format!("cannot open the temp file: {e}")))?;
    let mut out = tokio::fs::File::from_std(std_file);
    let mut head = Vec::with_capacity(SNIFF_LEN);
    let mut bytes = 0u64;
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| error::from_multipart_error(e, limit))?
    {
        if head.len() < SNIFF_LEN {
            let take = (SNIFF_LEN - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
        }
        bytes += chunk.len() as u64;
        out.write_all(&chunk)
            .await
            .map_err(|e| ApiError::internal(format!("cannot store the upload: {e}")))?;
    }
    out.flush()
        .await
        .map_err(|e| ApiError::internal(format!("cannot store the upload: {e}")))?;
    if bytes == 0 {
        return Ok(None);
    }
    Ok(Some(Upload {
        file: tmp,
        head,
        bytes,
    }))
}

/// A client string cut short for an error message.
fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    out
}

/// List catalog tools, optionally filtered, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/tools",
    params(ToolsParams),
    responses(
        (status = 200, description = "A page of tools", body = ToolPage),
        (status = 422, description = "Bad filter or page values", body = ErrorBody)
    )
)]
pub async fn list_tools(
    State(state): State<Arc<AppState>>,
    params: Result<Query<ToolsParams>, QueryRejection>,
) -> Result<Json<ToolPage>, ApiError> {
    let Query(p) = params.map_err(error::from_query_rejection)?;
    let limit = p.limit.unwrap_or(50);
    if limit == 0 || limit > 500 {
        return Err(ApiError::invalid_field(format!(
            "\"limit\" must be from 1 to 500, got {limit}"
        )));
    }
    let offset = p.offset.unwrap_or(0);
    let catalog = state.backend.catalog();
    let matching: Vec<&ToolCard> = catalog.filter(p.task.as_deref(), p.modality).collect();
    Ok(Json(ToolPage {
        total: matching.len(),
        offset,
        limit,
        tools: matching
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(Tool::from)
            .collect(),
    }))
}

/// One catalog tool by its hub id (the id's '/' need not be escaped).
#[utoipa::path(
    get,
    path = "/v1/tools/{id}",
    params(("id" = String, Path, description = "Hub id, e.g. `facebook/bart-large-cnn`", example = "t5-base")),
    responses(
        (status = 200, description = "The tool", body = Tool),
        (status = 404, description = "No such tool", body = ErrorBody)
    )
)]
pub async fn get_tool(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Tool>, ApiError> {
    state
        .backend
        .catalog()
        .get(&id)
        .map(|c| Json(Tool::from(c)))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "tool_not_found",
                format!("no tool {:?} in the catalog", clip(&id)),
            )
        })
}

/// Liveness: the model is loaded and the catalog is there.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "Serving", body = Health)))]
pub async fn healthz(State(state): State<Arc<AppState>>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        backend: state.backend.name().to_string(),
        tools: state.backend.catalog().len(),
    })
}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Metrics", body = String, content_type = "application/openmetrics-text")))]
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        state.metrics.encode(),
    )
        .into_response()
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", responses((status = 200, description = "OpenAPI 3.1 document", body = Object)))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!(
        "no such endpoint: {}; see /openapi.json",
        clip(uri.path())
    ))
}

pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{method} is not allowed on {}; see /openapi.json",
            clip(uri.path())
        ),
    )
}
