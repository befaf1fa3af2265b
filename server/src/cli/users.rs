//! `vlm-inspect user add|passwd|list`.

use std::io::BufRead;

use anyhow::{bail, Context};
use store::Role;

use app::format_time;
use clap::Subcommand;

/// Runs one `user` subcommand.
pub async fn run(cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add {
            username,
            role,
            password_stdin,
            data,
        } => {
            let role: Role = role.parse()?;
            let (password, generated) = password_from(password_stdin)?;
            let store = data.open().await?;
            let user = store.create_user(&username, &password, role).await?;
            println!("created {} ({})", user.username, user.role);
            if generated {
                println!("password: {password}");
            }
            store.close().await;
        }
        UserCommand::Passwd {
            username,
            password_stdin,
            data,
        } => {
            let (password, generated) = password_from(password_stdin)?;
            let store = data.open().await?;
            store.set_password(&username, &password).await?;
            println!("password changed for {username}; their sessions were ended");
            if generated {
                println!("password: {password}");
            }
            store.close().await;
        }
        UserCommand::List { data } => {
            let store = data.open().await?;
            let users = store.list_users().await?;
            println!(
                "{:<24} {:<9} {:<9} CREATED (UTC)",
                "USERNAME", "ROLE", "STATUS"
            );
            for u in users {
                let status = if u.disabled { "disabled" } else { "active" };
                println!(
                    "{:<24} {:<9} {:<9} {}",
                    u.username,
                    u.role,
                    status,
                    format_time(u.created_at)
                );
            }
            store.close().await;
        }
    }
    Ok(())
}

/// The password from stdin's first line, or a generated one (second value true).
fn password_from(stdin: bool) -> anyhow::Result<(String, bool)> {
    if !stdin {
        return Ok((store::password::generate(), true));
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let pw = line.trim_end_matches(['\r', '\n']).to_string();
    if pw.is_empty() {
        bail!("no password on stdin");
    }
    Ok((pw, false))
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account. The password is read from stdin with --password-stdin,
    /// otherwise generated and printed once.
    Add {
        username: String,
        /// admin, member or reviewer.
        #[arg(long, default_value = "member")]
        role: String,
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        data: crate::data_dir::DataDir,
    },
    /// Set a new password (ends the user's sessions and lifts a sign-in lock).
    Passwd {
        username: String,
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        data: crate::data_dir::DataDir,
    },
    /// List accounts.
    List {
        #[command(flatten)]
        data: crate::data_dir::DataDir,
    },
}
