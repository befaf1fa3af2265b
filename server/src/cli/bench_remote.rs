//! `vlm-inspect bench-remote`: sequential requests through our OpenAI-compatible client, for
//! bench/remote_overhead.mjs, which runs the `openai` npm package against the same server.

use std::time::Instant;

use remote::{ChatRequest, Client, Endpoint};
use tokio_util::sync::CancellationToken;

#[derive(Debug, clap::Args)]
pub struct BenchRemoteArgs {
    /// The server's base URL (`http://127.0.0.1:PORT/v1`).
    #[arg(long)]
    pub url: String,
    #[arg(long, default_value = "bench")]
    pub model: String,
    #[arg(long, default_value_t = 200)]
    pub requests: usize,
    /// Requests before timing starts.
    #[arg(long, default_value_t = 10)]
    pub warmup: usize,
}

/// Prints one JSON line: every request's wall time in milliseconds.
pub async fn run(args: BenchRemoteArgs) -> anyhow::Result<()> {
    let client = Client::new(Endpoint::new(&args.url, &args.model)?)?;
    let req = ChatRequest {
        system: None,
        text: "Is this part normal?".into(),
        images: Vec::new(),
        max_tokens: 16,
        temperature: 0.0,
        seed: Some(0),
    };
    let cancel = CancellationToken::new();
    let mut times = Vec::with_capacity(args.requests);
    for i in 0..args.warmup + args.requests {
        let t0 = Instant::now();
        client.complete(&req, &cancel, &mut |_| true).await?;
        if i >= args.warmup {
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    println!("{}", serde_json::json!({ "ms": times }));
    Ok(())
}
