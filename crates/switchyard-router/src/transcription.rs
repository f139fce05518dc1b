//! Audio transcription and translation: the file is streamed to the provider as the client
//! sends it, never held whole, so it gets one attempt (a stream cannot be replayed).

use std::time::Instant;

use switchyard_pricing::Unit;
use switchyard_providers::transcription;

use crate::upstream::Upload;
use crate::{Backend, CallOptions, Completion, Format, GatewayError, GatewayParams, Router};

/// A transcription request: its text fields, and the file as it arrives.
pub struct TranscriptionRequest {
    /// The model name asked for.
    pub model: String,
    /// `/v1/audio/translations` (to English) rather than transcriptions.
    pub translate: bool,
    /// Every other text field (`language`, `prompt`, `response_format`, `temperature`,
    /// `timestamp_granularities[]`, ...), in order.
    pub fields: Vec<(String, String)>,
    /// The file's name.
    pub file_name: String,
    /// The file's content type.
    pub file_type: String,
    /// The file's bytes, as the client sends them.
    pub file: Upload,
}

impl std::fmt::Debug for TranscriptionRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TranscriptionRequest")
            .field("model", &self.model)
            .field("file_name", &self.file_name)
            .finish_non_exhaustive()
    }
}

impl Router {
    /// Transcribes (or translates) on one deployment of the model group.
    pub async fn transcribe(
        &self,
        request: TranscriptionRequest,
        opts: &CallOptions,
    ) -> Result<Completion, GatewayError> {
        let TranscriptionRequest {
            model,
            translate,
            mut fields,
            file_name,
            file_type,
            file,
        } = request;
        let deployment = self.pick(&model)?;
        let (mut meta, backend, timeout, _) =
            Self::attempt_basics(&deployment, &GatewayParams::default(), opts);
        let Backend::Http(translator) = backend else {
            return Err(GatewayError::bad_request(format!(
                "`{model}` is a mock deployment, which does not transcribe audio"
            )));
        };
        let target = self.authed_target(&deployment).await?;
        let mut up = translator
            .transcription_request(&target, translate)
            .map_err(GatewayError::from_translate)?;
        // A model priced by the second needs the audio's length: ask for verbose_json when
        // the client wants json (the default), and give it the json it asked for.
        let per_second = deployment
            .price
            .as_ref()
            .and_then(|p| p.per_unit)
            .is_some_and(|u| u.unit == Unit::Second);
        let format = fields
            .iter()
            .find(|(k, _)| k == "response_format")
            .map(|(_, v)| v.clone());
        let widen = per_second && format.as_deref().is_none_or(|f| f == "json");
        if widen {
            fields.retain(|(k, _)| k != "response_format");
            fields.push(("response_format".into(), "verbose_json".into()));
        }
        fields.push(("model".into(), target.model.clone()));
        let boundary = format!("switchyard-{}", uuid::Uuid::new_v4().simple());
        let (head, tail) =
            transcription::multipart_frame(&boundary, &fields, &file_name, &file_type);
        let ct = http::HeaderValue::try_from(format!("multipart/form-data; boundary={boundary}"))
            .map_err(|e| GatewayError::internal(e.to_string()))?;
        up.headers.push((http::header::CONTENT_TYPE, ct));
        let body = futures_util::stream::once(async move { Ok(head) })
            .chain(file)
            .chain(futures_util::stream::once(async move { Ok(tail) }));
        let started = Instant::now();
        let (headers, body) = opts
            .trace
            .attempt(&deployment, 0)
            .once(
                self.client
                    .upload(&target, translator, up, Box::pin(body), timeout),
            )
            .await
            .inspect_err(|e| self.note_failure(&model, &deployment, e))?;
        meta.upstream_headers = headers;
        meta.upstream_latency = started.elapsed();
        let usage = transcription::usage(&body);
        let body = if widen {
            transcription::reduce_to_json(&body)
                .map_err(|e| GatewayError::from_provider(e, &target.provider))?
        } else {
            body
        };
        if deployment.price.is_none() {
            self.note_unpriced(&deployment);
        }
        let cost = self.cost(&deployment, usage.as_ref());
        if format
            .as_deref()
            .is_some_and(|f| matches!(f, "text" | "srt" | "vtt"))
        {
            meta.content_type = Some(http::HeaderValue::from_static("text/plain; charset=utf-8"));
        }
        Ok(Completion {
            body,
            usage,
            cost,
            meta,
            format: Format::PassThrough,
        })
    }
}

use futures_util::StreamExt;
