//! Commands to agents and bridges (ARCHITECTURE §2): core NATS request/reply on
//! `bamf.cmd.agent.<id>.<command>` and `bamf.cmd.bridge.<id>.<command>`, never
//! stored. Payloads are JSON; every answer is a [`Reply`] — `{"ok": …}` or
//! `{"error": {"code", "message"}}` — so a refusal is typed, not a timeout.
//!
//! A command may take a second step: the API sends `dial`, the agent answers
//! with its CSR *as a request of its own* (so the answer carries the agent's
//! inbox), and the API sends the signed certificate to that inbox.
//! [`Answered::reply_to`] is that inbox.

use std::time::Duration;

use async_nats::{Client, HeaderMap, Subject, Subscriber};
use bamf_domain::AggregateId;
use bytes::Bytes;
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Largest command or answer accepted.
pub const MAX_COMMAND_BYTES: usize = 64 * 1024;

/// `bamf.cmd.agent.<id>.<command>`.
pub fn agent_command_subject(agent_id: &AggregateId, command: &str) -> String {
    format!("bamf.cmd.agent.{}.{command}", agent_id.as_str())
}

/// `bamf.cmd.bridge.<id>.<command>`.
pub fn bridge_command_subject(bridge_id: &AggregateId, command: &str) -> String {
    format!("bamf.cmd.bridge.{}.{command}", bridge_id.as_str())
}

/// A refusal carried in an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refusal {
    /// Stable code, e.g. `unknown_resource`.
    pub code: String,
    pub message: String,
}

/// Every answer to a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Reply<T> {
    Ok(T),
    Error(Refusal),
}

/// Why a command got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("nobody is listening on {subject}")]
    NoResponders { subject: String },
    #[error("no answer on {subject} within {timeout:?}")]
    TimedOut { subject: String, timeout: Duration },
    #[error("cannot send the command on {subject}")]
    Send {
        subject: String,
        #[source]
        source: async_nats::Error,
    },
    #[error("the answer on {subject} is not valid: {reason}")]
    BadAnswer { subject: String, reason: String },
    #[error("refused: {} ({})", .0.message, .0.code)]
    Refused(Refusal),
}

/// An answer, and where the answerer waits for a second step, if it does.
#[derive(Debug)]
pub struct Answered<T> {
    pub answer: T,
    pub reply_to: Option<Subject>,
}

fn encode<T: Serialize>(value: &T) -> Bytes {
    Bytes::from(serde_json::to_vec(value).expect("command payloads are plain data"))
}

/// Decodes a payload strictly and within the size bound.
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, String> {
    if payload.len() > MAX_COMMAND_BYTES {
        return Err(format!(
            "{} bytes (at most {MAX_COMMAND_BYTES})",
            payload.len()
        ));
    }
    serde_json::from_slice(payload).map_err(|e| e.to_string())
}

/// Sends `command` on `subject` and waits at most `timeout` for the answer.
pub async fn request<Q: Serialize, A: DeserializeOwned>(
    client: &Client,
    subject: String,
    command: &Q,
    headers: HeaderMap,
    timeout: Duration,
) -> Result<Answered<A>, CommandError> {
    let sent = client.request_with_headers(subject.clone(), headers, encode(command));
    let message = match tokio::time::timeout(timeout, sent).await {
        Err(_) => return Err(CommandError::TimedOut { subject, timeout }),
        Ok(Err(e)) => {
            return Err(match e.kind() {
                async_nats::RequestErrorKind::NoResponders => {
                    CommandError::NoResponders { subject }
                }
                async_nats::RequestErrorKind::TimedOut => {
                    CommandError::TimedOut { subject, timeout }
                }
                _ => CommandError::Send {
                    subject,
                    source: e.into(),
                },
            })
        }
        Ok(Ok(m)) => m,
    };
    let reply: Reply<A> = decode(&message.payload).map_err(|reason| CommandError::BadAnswer {
        subject: subject.clone(),
        reason,
    })?;
    match reply {
        Reply::Ok(answer) => Ok(Answered {
            answer,
            reply_to: message.reply,
        }),
        Reply::Error(refusal) => Err(CommandError::Refused(refusal)),
    }
}

/// Answers a command (fire and forget: the requester times out if it is lost).
pub async fn answer<T: Serialize>(
    client: &Client,
    reply_to: Subject,
    reply: &Reply<T>,
) -> Result<(), CommandError> {
    client
        .publish(reply_to.clone(), encode(reply))
        .await
        .map_err(|e| CommandError::Send {
            subject: reply_to.to_string(),
            source: e.into(),
        })
}

/// One command received.
#[derive(Debug)]
pub struct Inbound<Q> {
    pub subject: Subject,
    /// The decoded command, or why it could not be decoded.
    pub command: Result<Q, String>,
    pub reply_to: Option<Subject>,
    pub headers: Option<HeaderMap>,
}

/// Commands arriving on a subject (wildcards allowed).
pub struct Commands<Q> {
    subscriber: Subscriber,
    _q: std::marker::PhantomData<fn() -> Q>,
}

impl<Q: DeserializeOwned> Commands<Q> {
    /// Subscribes to `subject`.
    pub async fn subscribe(client: &Client, subject: String) -> Result<Self, CommandError> {
        let subscriber =
            client
                .subscribe(subject.clone())
                .await
                .map_err(|e| CommandError::Send {
                    subject,
                    source: e.into(),
                })?;
        Ok(Commands {
            subscriber,
            _q: std::marker::PhantomData,
        })
    }

    /// The next command; `None` when the subscription ends.
    pub async fn next(&mut self) -> Option<Inbound<Q>> {
        let message = self.subscriber.next().await?;
        Some(Inbound {
            command: decode(&message.payload),
            subject: message.subject,
            reply_to: message.reply,
            headers: message.headers,
        })
    }
}
