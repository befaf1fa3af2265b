//! Remote models: a registered model served by an OpenAI-compatible server. Its settings live
//! in the registry (`store::RemoteSpec`); its API key never does: it is read from the
//! server's environment or from a file under the data folder readable by the server's user
//! only, when a request is made.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use remote::{ApiKey, Client, Endpoint};
use store::{KeySource, ModelInfo, RemoteSpec, Store};

/// A registered remote model.
#[derive(Clone, Debug)]
pub struct RemoteModel {
    pub info: ModelInfo,
    pub spec: RemoteSpec,
}

impl RemoteModel {
    /// Its client; the key is read now.
    pub fn client(&self, data_dir: &Path) -> anyhow::Result<Client> {
        client(data_dir, &self.info, &self.spec)
            .with_context(|| format!("model {}", self.info.name))
    }
}

/// Registry kind of a remote model.
pub const KIND_OPENAI: &str = "openai";

/// Where an API key entered in the UI is kept: `<data>/keys/model-<id>.key` (by id, so no
/// model name can reach outside the folder).
pub fn key_file(data_dir: &Path, model_id: i64) -> PathBuf {
    data_dir.join(store::models::key_file(model_id))
}

/// Writes a key file only the server's user can read (0600, in a 0700 folder), replacing the
/// old key in one rename.
pub fn write_key(data_dir: &Path, model_id: i64, key: &str) -> anyhow::Result<()> {
    let key = ApiKey::new(key).context("the API key is empty")?;
    let path = key_file(data_dir, model_id);
    let dir = path.parent().unwrap_or(data_dir);
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let part = path.with_extension("part");
    write_private(&part, key.secret())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    std::fs::rename(&part, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

/// The key of a model, from where its spec says; None for a server that needs none.
pub fn read_key(
    data_dir: &Path,
    model: &ModelInfo,
    spec: &RemoteSpec,
) -> anyhow::Result<Option<ApiKey>> {
    match &spec.api_key {
        KeySource::None => Ok(None),
        KeySource::Env { var } => match std::env::var(var) {
            Ok(v) => Ok(ApiKey::new(&v)),
            Err(_) => Err(remote::RemoteError::MissingKey { var: var.clone() }.into()),
        },
        KeySource::File => {
            let path = key_file(data_dir, model.id);
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!("model {}: its API key file {} cannot be read (enter the key again on the Models page)", model.name, path.display())
            })?;
            Ok(ApiKey::new(&text))
        }
    }
}

/// The client for a registered remote model.
pub fn client(data_dir: &Path, model: &ModelInfo, spec: &RemoteSpec) -> anyhow::Result<Client> {
    let mut endpoint = Endpoint::new(&spec.base_url, &spec.remote_model)?;
    endpoint.api_key = read_key(data_dir, model, spec)?;
    endpoint.max_concurrency = spec.max_concurrency.max(1);
    endpoint.max_image_side = spec.max_image_side;
    endpoint.detail = spec.detail.map(|d| match d {
        store::DetailLevel::Auto => remote::Detail::Auto,
        store::DetailLevel::Low => remote::Detail::Low,
        store::DetailLevel::High => remote::Detail::High,
    });
    if let Some(s) = spec.first_token_timeout_s {
        endpoint.timeouts.first_token = Duration::from_secs_f64(s.max(0.1));
    }
    Ok(Client::new(endpoint)?)
}

/// Checks a spec before it is stored.
pub fn validate(spec: &RemoteSpec) -> anyhow::Result<()> {
    Endpoint::new(&spec.base_url, &spec.remote_model)?;
    if spec.max_concurrency == 0 || spec.max_concurrency > 256 {
        bail!("max concurrency {}: 1 to 256", spec.max_concurrency);
    }
    if spec.max_image_side == Some(0) {
        bail!("max image side: at least 1 pixel");
    }
    for (what, price) in [("price in", spec.price_in), ("price out", spec.price_out)] {
        if price.is_some_and(|p| !p.is_finite() || p < 0.0) {
            bail!("{what}: a price per million tokens is a number of at least 0");
        }
    }
    if let KeySource::Env { var } = &spec.api_key {
        if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            bail!("api key variable {var:?}: letters, digits and underscores");
        }
    }
    Ok(())
}

/// Registers (or updates) a remote model; a key given here goes to its key file.
pub async fn register(
    store: &Store,
    data_dir: &Path,
    name: &str,
    spec: &RemoteSpec,
    key: Option<&str>,
) -> anyhow::Result<ModelInfo> {
    validate(spec)?;
    let model = store.register_remote_model(name, KIND_OPENAI, spec).await?;
    if let Some(key) = key {
        write_key(data_dir, model.id, key)?;
    }
    Ok(model)
}

/// "Test connection": one tiny request to the remote model `name`; the latency, or the
/// server's error naming the model.
pub async fn test_named(store: &Store, data_dir: &Path, name: &str) -> anyhow::Result<String> {
    let Some(info) = store.model_named(name).await? else {
        bail!("no model named {name:?}");
    };
    let Some(spec) = info.remote.clone() else {
        bail!(
            "{name} is a local model ({}): nothing to connect to",
            info.path
        );
    };
    let model = RemoteModel { info, spec };
    let client = model.client(data_dir)?;
    let c = client.test_connection().await.with_context(|| {
        format!(
            "model {name} ({} at {})",
            model.spec.remote_model, model.spec.base_url
        )
    })?;
    Ok(format!(
        "{name}: {} answered in {} ms{}",
        c.model.as_deref().unwrap_or(&model.spec.remote_model),
        c.latency.as_millis(),
        c.first_token
            .map(|t| format!(" (first token after {} ms)", t.as_millis()))
            .unwrap_or_default()
    ))
}

/// Removes model `name` from the registry, and a remote model's key file with it; false when
/// there is no such model.
pub async fn remove(store: &Store, data_dir: &Path, name: &str) -> anyhow::Result<bool> {
    let model = store.model_named(name).await?;
    if !store.remove_model(name).await? {
        return Ok(false);
    }
    if let Some(m) = model {
        let path = key_file(data_dir, m.id);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!("cannot delete the key file {}: {e}", path.display())
            }
            _ => {}
        }
    }
    Ok(true)
}

/// The cost in US dollars of `prompt` and `completion` tokens at a spec's prices (None when
/// it has none).
pub fn cost(spec: &RemoteSpec, prompt: u64, completion: u64) -> Option<f64> {
    if spec.price_in.is_none() && spec.price_out.is_none() {
        return None;
    }
    Some(
        prompt as f64 * spec.price_in.unwrap_or(0.0) / 1e6
            + completion as f64 * spec.price_out.unwrap_or(0.0) / 1e6,
    )
}

/// A Burn model's request (text with `<image>` marks, image files in the same order) as a
/// remote one: the same wording, images and decoding.
pub fn chat_request(
    request: &anomaly::coi::Request,
    decoding: &anomaly::explain::Decoding,
) -> remote::ChatRequest {
    remote::ChatRequest {
        system: request.system.clone(),
        text: request.message.clone(),
        images: request
            .images
            .iter()
            .cloned()
            .map(remote::ImageInput::Path)
            .collect(),
        max_tokens: decoding.max_new_tokens,
        temperature: decoding.temperature as f64,
        seed: Some(decoding.seed),
    }
}

/// A remote reply read as a Burn model's is: the same verdict parser on the whole text; and
/// who answered, how fast.
pub fn reply_of(c: &remote::Completion) -> (anomaly::explain::Reply, store::ServedBy) {
    let usage = c.usage.unwrap_or_default();
    let reply = anomaly::explain::Reply {
        explanation: anomaly::coi::explanation_of(&c.text),
        verdict: anomaly::verdict::parse_verdict(&c.text),
        raw: c.text.clone(),
        prompt_tokens: usage.prompt_tokens as usize,
        new_tokens: usage.completion_tokens as usize,
        latency_ms: c.latency.as_millis() as u64,
    };
    let served = store::ServedBy {
        first_token_ms: c.first_token.map(|d| d.as_millis() as i64),
        model: c.model.clone(),
        fingerprint: c.system_fingerprint.clone(),
    };
    (reply, served)
}
