//! `vlm-inspect token create|list|revoke`: API tokens for the `/v1` API from the command line.

use anyhow::bail;
use clap::Subcommand;

use crate::data_dir::DataDir;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token for a user (members and admins); the token is printed once, alone on
    /// the last line.
    Create {
        #[arg(long)]
        user: String,
        /// What the token is for (shown in lists).
        #[arg(long, default_value = "")]
        label: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// List tokens (never their secrets).
    List {
        /// Only this user's.
        #[arg(long)]
        user: Option<String>,
        #[command(flatten)]
        data: DataDir,
    },
    /// Revoke a token by its id.
    Revoke {
        id: i64,
        #[command(flatten)]
        data: DataDir,
    },
}

pub async fn run(cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create { user, label, data } => {
            let store = data.open().await?;
            let (info, secret) = store.create_token(&user, &label).await?;
            store.close().await;
            println!(
                "token {} for {} created; it is shown only now:",
                info.id, info.user
            );
            println!("{secret}");
        }
        TokenCommand::List { user, data } => {
            let store = data.open().await?;
            for t in store.tokens(user.as_deref()).await? {
                println!(
                    "{}\t{}\t{}\tcreated {}\tlast used {}",
                    t.id,
                    t.user,
                    t.label,
                    t.created_at,
                    t.last_used_at
                        .map_or("never".to_string(), |t| t.to_string())
                );
            }
            store.close().await;
        }
        TokenCommand::Revoke { id, data } => {
            let store = data.open().await?;
            let done = store.revoke_token(id, None).await?;
            store.close().await;
            if !done {
                bail!("no token with id {id}");
            }
            println!("revoked token {id}");
        }
    }
    Ok(())
}
