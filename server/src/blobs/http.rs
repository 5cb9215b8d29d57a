//! The photo endpoints: upload status, chunk upload, ranged download.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, RANGE,
    RETRY_AFTER,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use outpost_core::sync::blobs::{BlobStatus, CHUNK_SHA256};

use super::upload::{Access, ChunkRequest, Uploader, apply_chunk, check_hash};
use super::{Append, BlobStore, READ_PIECE, on_pool};
use crate::api::{App, Caller, now_ms};
use crate::error::ApiError;
use crate::scope::member_scope;
use crate::storage::Scope;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/blobs/{hash}", get(download).put(upload))
        .route("/v1/blobs/{hash}/status", get(status))
}

/// The caller may touch `hash` only through a document in its scope. A photo outside it
/// gets the same answer whether it exists or not.
async fn authorize(
    app: &App,
    caller: &Caller,
    hash: &str,
) -> Result<(Arc<dyn BlobStore>, Access, Scope), ApiError> {
    check_hash(hash)?;
    let store = app.blob_store()?;
    let scope = member_scope(&caller.member);
    let (h, sc) = (hash.to_string(), scope.clone());
    let access = on_pool(store.clone(), move |s| {
        Ok(if s.visible(&h, &sc)? {
            Some(Access::Visible)
        } else if s.claimed(&h, &sc)? {
            Some(Access::Claimed)
        } else {
            None
        })
    })
    .await?
    .ok_or_else(|| ApiError::forbidden("no document you may see references this photo"))?;
    Ok((store, access, scope))
}

/// A device that sees the photo hears `complete` once anyone finished it; otherwise (and
/// always for a claimant, which must prove it has the bytes) it hears of its own upload.
async fn status(
    State(app): State<Arc<App>>,
    caller: Caller,
    UrlPath(hash): UrlPath<String>,
) -> Result<Json<BlobStatus>, ApiError> {
    let (store, access, _) = authorize(&app, &caller, &hash).await?;
    let device = caller.device.id.clone();
    let status = on_pool(store, move |s| {
        if access == Access::Visible
            && let Some(p) = s.photo(&hash)?
        {
            return Ok(BlobStatus {
                offset: p.size,
                complete: true,
            });
        }
        Ok(match s.upload(&hash, &device, now_ms())? {
            Some(u) => BlobStatus {
                offset: u.received,
                complete: false,
            },
            None => BlobStatus::default(),
        })
    })
    .await?;
    Ok(Json(status))
}

async fn upload(
    State(app): State<Arc<App>>,
    caller: Caller,
    UrlPath(hash): UrlPath<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    check_hash(&hash)?;
    let (store, access, scope) = authorize(&app, &caller, &hash).await?;
    let req = ChunkRequest::parse(
        &hash,
        query.as_deref(),
        headers.get(CHUNK_SHA256).map(HeaderValue::as_bytes),
        body,
    )?;
    let who = Uploader {
        device: caller.device.id.clone(),
        access,
        scope,
    };
    let outcome = on_pool(store, move |s| apply_chunk(s, &req, &who, now_ms())).await?;
    match outcome {
        Append::Stored { received, complete } => Ok(Json(BlobStatus {
            offset: received,
            complete,
        })
        .into_response()),
        Append::OffsetMismatch { received } => Err(ApiError::new(
            StatusCode::CONFLICT,
            "offset_mismatch",
            format!("the server holds {received} bytes of your upload; continue from there"),
        )),
        Append::SizeMismatch { size } => Err(ApiError::new(
            StatusCode::CONFLICT,
            "size_mismatch",
            format!("your upload of this photo announced size {size}; restart at offset 0"),
        )),
        Append::HashMismatch => {
            tracing::warn!(device = %caller.device.id, %hash, "uploaded photo does not match its hash");
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "hash_mismatch",
                "the uploaded bytes do not hash to the photo's name; they were discarded",
            ))
        }
        Append::OverQuota { in_flight, quota } => {
            tracing::warn!(device = %caller.device.id, in_flight, quota, "photo upload quota reached");
            let mut resp = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "upload_quota",
                format!(
                    "your unfinished photo uploads hold {in_flight} bytes of the {quota} allowed; \
                     finish them, or wait until idle ones expire"
                ),
            )
            .into_response();
            resp.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("60"));
            Ok(resp)
        }
    }
}

/// `bytes=N-` or `bytes=N-M` (one range). `None`: no usable range, serve it all.
pub(crate) fn parse_range(v: &str, size: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = v.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let start: u64 = a.trim().parse().ok()?;
    let end = match b.trim() {
        "" => size,
        e => e.parse::<u64>().ok()?.saturating_add(1).min(size),
    };
    if start >= size || start >= end {
        return Some(Err(()));
    }
    Some(Ok((start, end)))
}

async fn download(
    State(app): State<Arc<App>>,
    caller: Caller,
    UrlPath(hash): UrlPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (store, access, _) = authorize(&app, &caller, &hash).await?;
    if access != Access::Visible {
        return Err(ApiError::forbidden(
            "no document you may see references this photo",
        ));
    }
    let h = hash.clone();
    let photo = on_pool(store.clone(), move |s| s.photo(&h))
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "this photo has not been uploaded yet",
            )
        })?;
    let range = headers
        .get(RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_range(v, photo.size));
    let (start, end, partial) = match range {
        None => (0, photo.size, false),
        Some(Ok((s, e))) => (s, e, true),
        Some(Err(())) => {
            let mut resp = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "bad_range",
                format!("the photo has {} bytes", photo.size),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", photo.size)) {
                resp.headers_mut().insert(CONTENT_RANGE, v);
            }
            return Ok(resp);
        }
    };
    // The first piece is read before the reply starts, so a store failure is still a clean
    // 500; the rest streams, one bounded piece at a time.
    let first_end = end.min(start.saturating_add(READ_PIECE));
    let h = hash.clone();
    let first = on_pool(store.clone(), move |s| s.read(&h, start, first_end)).await?;
    let rest = pieces(store, hash.clone(), first_end, end);
    let body = Body::from_stream(futures_util::StreamExt::chain(
        futures_util::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(first)) }),
        rest,
    ));
    let mut resp = Response::new(body);
    let hdrs = resp.headers_mut();
    let mime = HeaderValue::from_str(&photo.mime)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    hdrs.insert(CONTENT_TYPE, mime);
    hdrs.insert(CONTENT_LENGTH, HeaderValue::from(end - start));
    hdrs.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    hdrs.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("\"{hash}\"")) {
        hdrs.insert(ETAG, v);
    }
    if partial {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{}", end - 1, photo.size)) {
            resp.headers_mut().insert(CONTENT_RANGE, v);
        }
    }
    Ok(resp)
}

/// Bytes `from..end` of a complete photo as a stream of pieces of at most [`READ_PIECE`],
/// each read on the blocking pool when the connection wants it. A failure ends the stream
/// with an error: the client sees a short body (its `Content-Length` says so) and resumes
/// with a range.
fn pieces(
    store: Arc<dyn BlobStore>,
    hash: String,
    from: u64,
    end: u64,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    futures_util::stream::try_unfold(from, move |at| {
        let (store, hash) = (store.clone(), hash.clone());
        async move {
            if at >= end {
                return Ok(None);
            }
            let to = end.min(at.saturating_add(READ_PIECE));
            let bytes = tokio::task::spawn_blocking(move || store.read(&hash, at, to))
                .await
                .map_err(std::io::Error::other)?
                .map_err(|e| {
                    tracing::error!(error = %e, "reading a photo");
                    std::io::Error::other(e)
                })?;
            Ok(Some((Bytes::from(bytes), to)))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_like_http_says() {
        assert_eq!(parse_range("bytes=10-", 100), Some(Ok((10, 100))));
        assert_eq!(parse_range("bytes=10-19", 100), Some(Ok((10, 20))));
        assert_eq!(parse_range("bytes=10-1000", 100), Some(Ok((10, 100))));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
        let max = u64::MAX;
        assert_eq!(
            parse_range(&format!("bytes=10-{max}"), 100),
            Some(Ok((10, 100)))
        );
        assert_eq!(parse_range(&format!("bytes={max}-"), 100), Some(Err(())));
    }
}
