//! The Switchyard SDK: the gateway's routing and translation as a library, no server.
//!
//! Run it from the repository root (no API key needed; it uses the mock deployment):
//!
//!     cargo run --example sdk
//!
//! With OPENAI_API_KEY set it also calls OpenAI directly as `openai/gpt-4o-mini`.

use futures_util::StreamExt;
use switchyard::types::{ChatCompletionRequest, ChatMessage};
use switchyard::Router;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Model groups from the same config.yaml the gateway reads.
    let router = Router::from_file("examples/config.yaml")?;
    let request = ChatCompletionRequest {
        model: "mock-gpt".into(),
        messages: vec![
            ChatMessage::system("You are terse."),
            ChatMessage::user("Say hello"),
        ],
        ..Default::default()
    };

    let response = router.completion(request.clone()).await?;
    println!(
        "complete: {}",
        response.choices[0].message.content.as_deref().unwrap_or("")
    );

    let mut stream = router.completion_stream(request.clone()).await?;
    print!("stream:  ");
    while let Some(chunk) = stream.next().await {
        for choice in chunk?.choices {
            print!("{}", choice.delta.content.unwrap_or_default());
        }
    }
    println!();

    // Direct addressing, credentials from the environment.
    if std::env::var("OPENAI_API_KEY").is_ok() {
        let response = switchyard::completion(ChatCompletionRequest {
            model: "openai/gpt-4o-mini".into(),
            ..request
        })
        .await?;
        println!(
            "openai:  {}",
            response.choices[0].message.content.as_deref().unwrap_or("")
        );
    }
    Ok(())
}
