//! The API a route speaks: how its answers and errors look, and what it keeps of them.
//!
//! Every chat-like route runs the same pipeline (`chat::handle`); a `Dialect` is what differs:
//! OpenAI chat (answers as they come), Anthropic Messages, legacy text completions and the
//! Responses API (chat answers translated back to each), with errors in each API's shape.
//! Responses are also kept (`responses::Store`) so a later `previous_response_id` and
//! `GET /v1/responses/{id}` find them.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use switchyard_providers::{
    anthropic_openai, completions_openai, responses_openai, TranslateError,
};
use switchyard_router::{Format, GatewayError};

use crate::error::{error_event, ApiError};
use crate::responses::Turn;

/// The API a route speaks.
#[derive(Debug, Clone)]
pub(crate) enum Dialect {
    /// OpenAI chat completions.
    OpenAi,
    /// Anthropic Messages (`/v1/messages`).
    Anthropic,
    /// OpenAI legacy text completions (`/v1/completions`).
    OpenAiText,
    /// OpenAI Responses (`/v1/responses`): the turn being answered, to translate and keep.
    Responses(Arc<Turn>),
}

impl Dialect {
    /// An error, in the route's shape.
    pub(crate) fn error_response(&self, e: GatewayError) -> Response {
        match self {
            Dialect::Anthropic => crate::messages::error_response(&e),
            _ => ApiError(e).into_response(),
        }
    }

    /// The event that ends a stream broken after its first byte, in the route's shape.
    pub(crate) fn error_event(&self, e: &GatewayError) -> Bytes {
        match self {
            Dialect::Anthropic => crate::messages::error_event(e),
            Dialect::Responses(_) => {
                let mut b = responses_openai::StreamBack::default();
                b.fail(&e.message, Some(&e.status.to_string()))
            }
            _ => error_event(e),
        }
    }

    /// A chat completion body in the route's format; `None` when it is already.
    pub(crate) fn translate(&self, chat: &[u8]) -> Option<Result<Bytes, TranslateError>> {
        match self {
            Dialect::OpenAi => None,
            Dialect::Anthropic => Some(anthropic_openai::response(chat)),
            Dialect::OpenAiText => Some(completions_openai::response(chat)),
            Dialect::Responses(turn) => Some(responses_openai::response(chat, &turn.body)),
        }
    }

    /// Keeps a complete answer (the Responses API stores its responses).
    pub(crate) fn keep(&self, body: &[u8], format: Format) {
        if let Dialect::Responses(turn) = self {
            turn.keep_body(body, format);
        }
    }

    /// A translator from a chat chunk stream to the route's stream, when the answer is chat.
    pub(crate) fn stream_back(&self, format: Format) -> Option<StreamBack> {
        if format != Format::OpenAi {
            return None;
        }
        match self {
            Dialect::OpenAi => None,
            Dialect::Anthropic => Some(StreamBack::Anthropic(Box::default())),
            Dialect::OpenAiText => Some(StreamBack::Text(completions_openai::StreamBack::new())),
            Dialect::Responses(turn) => Some(StreamBack::Responses(Box::new(
                responses_openai::StreamBack::new(turn.body.clone()),
            ))),
        }
    }

    /// What watches a stream's bytes to keep its final answer.
    pub(crate) fn keeper(&self, format: Format) -> Option<crate::responses::Keeper> {
        match self {
            Dialect::Responses(turn) => {
                Some(crate::responses::Keeper::new(Arc::clone(turn), format))
            }
            _ => None,
        }
    }
}

/// Turns a chat chunk stream into the stream a client of another dialect expects.
pub(crate) enum StreamBack {
    Anthropic(Box<anthropic_openai::StreamBack>),
    Text(completions_openai::StreamBack),
    Responses(Box<responses_openai::StreamBack>),
}

impl StreamBack {
    /// Feeds chat stream bytes; returns the events they complete.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Vec<Bytes> {
        match self {
            StreamBack::Anthropic(b) => b.push(bytes),
            StreamBack::Text(b) => b.push(bytes),
            StreamBack::Responses(b) => b.push(bytes),
        }
    }
}
