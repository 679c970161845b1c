//! Request/reply commands on a real nats-server: an answer, a typed refusal,
//! nobody listening, a bad answer, and the two-step dial (the agent answers
//! with a request of its own; the API completes it).

use std::time::Duration;

use bamf_domain::AggregateId;
use bamf_events::commands::{self, agent_command_subject, CommandError, Commands, Refusal, Reply};
use bamf_testkit::NatsServer;
use serde::{Deserialize, Serialize};

const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Dial {
    resource: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Csr {
    csr: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Signed {
    cert: String,
}

#[tokio::test]
async fn dial_is_answered_in_two_steps_and_refusals_are_typed() -> anyhow::Result<()> {
    let server = NatsServer::start().await?;
    let api = bamf_events::connect(server.url()).await?;
    let agent = bamf_events::connect(server.url()).await?;
    let agent_id = AggregateId::new("agent-1")?;
    let subject = agent_command_subject(&agent_id, "dial");
    let mut inbox: Commands<Dial> = Commands::subscribe(&agent, subject.clone()).await?;
    agent.flush().await?;

    // The agent: refuses an unknown resource; answers a known one with a CSR
    // and waits for the signed certificate.
    let agent_task = tokio::spawn(async move {
        let mut got = Vec::new();
        for _ in 0..3 {
            let inbound = inbox.next().await.expect("a command");
            let reply_to = inbound.reply_to.expect("requests carry a reply subject");
            match inbound.command {
                Err(reason) => {
                    let refusal = Refusal {
                        code: "bad_command".into(),
                        message: reason,
                    };
                    commands::answer::<Csr>(&agent, reply_to, &Reply::Error(refusal))
                        .await
                        .unwrap();
                }
                Ok(Dial { resource }) if resource != "orders-db" => {
                    let refusal = Refusal {
                        code: "unknown_resource".into(),
                        message: format!("{resource} is not configured here"),
                    };
                    commands::answer::<Csr>(&agent, reply_to, &Reply::Error(refusal))
                        .await
                        .unwrap();
                }
                Ok(_) => {
                    let step: commands::Answered<Signed> = commands::request(
                        &agent,
                        reply_to.to_string(),
                        &Reply::Ok(Csr { csr: "CSR".into() }),
                        Default::default(),
                        TIMEOUT,
                    )
                    .await
                    .unwrap();
                    got.push(step.answer);
                }
            }
        }
        got
    });

    // The subscription reaches the server asynchronously: until it has, the
    // server answers "no responders" (which never reaches the agent). Retry
    // on that signal alone, within a bound.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let refused = loop {
        let answer = commands::request::<_, Csr>(
            &api,
            subject.clone(),
            &Dial {
                resource: "payroll".into(),
            },
            Default::default(),
            TIMEOUT,
        )
        .await;
        match answer {
            Err(CommandError::NoResponders { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::task::yield_now().await
            }
            other => break other,
        }
    };
    assert!(
        matches!(&refused, Err(CommandError::Refused(r)) if r.code == "unknown_resource"),
        "{refused:?}"
    );

    let bad = commands::request::<_, Csr>(
        &api,
        subject.clone(),
        &serde_json::json!({"nope": 1}),
        Default::default(),
        TIMEOUT,
    )
    .await;
    assert!(matches!(bad, Err(CommandError::Refused(r)) if r.code == "bad_command"));

    let first = commands::request::<_, Csr>(
        &api,
        subject.clone(),
        &Dial {
            resource: "orders-db".into(),
        },
        Default::default(),
        TIMEOUT,
    )
    .await?;
    assert_eq!(first.answer, Csr { csr: "CSR".into() });
    let second_step = first.reply_to.expect("the agent waits for the certificate");
    commands::answer(
        &api,
        second_step,
        &Reply::Ok(Signed {
            cert: "CERT".into(),
        }),
    )
    .await?;
    assert_eq!(
        agent_task.await?,
        vec![Signed {
            cert: "CERT".into()
        }]
    );

    // Nobody listening: told at once, not after the timeout.
    let nobody = agent_command_subject(&AggregateId::new("agent-2")?, "dial");
    let started = std::time::Instant::now();
    let none = commands::request::<_, Csr>(
        &api,
        nobody,
        &Dial {
            resource: "x".into(),
        },
        Default::default(),
        TIMEOUT,
    )
    .await;
    assert!(
        matches!(none, Err(CommandError::NoResponders { .. })),
        "{none:?}"
    );
    assert!(started.elapsed() < TIMEOUT);
    Ok(())
}

#[tokio::test]
async fn a_garbage_answer_is_a_bad_answer_not_a_panic() -> anyhow::Result<()> {
    let server = NatsServer::start().await?;
    let client = bamf_events::connect(server.url()).await?;
    let mut sub = client.subscribe("bamf.cmd.agent.x.ping").await?;
    client.flush().await?;
    let responder = client.clone();
    tokio::spawn(async move {
        use futures::StreamExt;
        if let Some(m) = sub.next().await {
            responder
                .publish(m.reply.unwrap(), "not json".into())
                .await
                .unwrap();
        }
    });
    let answer = commands::request::<_, Csr>(
        &client,
        "bamf.cmd.agent.x.ping".into(),
        &Dial {
            resource: "x".into(),
        },
        Default::default(),
        TIMEOUT,
    )
    .await;
    assert!(
        matches!(answer, Err(CommandError::BadAnswer { .. })),
        "{answer:?}"
    );
    Ok(())
}
