//! The model registry: names users pick in the UI and on the command line, and where each
//! model's files are (inside the data folder's `models/` store, or anywhere for local files).

use crate::db::{now, Store, StoreError};
use crate::records::{ModelInfo, RemoteSpec};
use crate::sql;

/// Where the API key of remote model `model_id` entered in the UI is kept, relative to the
/// data folder (by id, so no model name can reach outside the folder).
pub fn key_file(model_id: i64) -> String {
    format!("keys/model-{model_id}.key")
}

type ModelRow = (i64, String, String, String, Option<String>);

fn model_info((id, name, kind, path, remote): ModelRow) -> Result<ModelInfo, StoreError> {
    let remote = remote
        .map(|text| {
            serde_json::from_str::<RemoteSpec>(&text).map_err(|e| {
                StoreError::Invalid(format!(
                    "model {name}: its remote settings are unreadable: {e}"
                ))
            })
        })
        .transpose()?;
    Ok(ModelInfo {
        id,
        name,
        kind,
        path,
        remote,
    })
}

impl Store {
    /// Registered models, by name.
    pub async fn models(&self) -> Result<Vec<ModelInfo>, StoreError> {
        let rows: Vec<ModelRow> =
            sql::query_as("SELECT id, name, kind, path, remote FROM models ORDER BY name")
                .fetch_all(self.pool())
                .await?;
        rows.into_iter().map(model_info).collect()
    }

    /// The model registered under `name`.
    pub async fn model_named(&self, name: &str) -> Result<Option<ModelInfo>, StoreError> {
        let row: Option<ModelRow> =
            sql::query_as("SELECT id, name, kind, path, remote FROM models WHERE name = $1")
                .bind(name)
                .fetch_optional(self.pool())
                .await?;
        row.map(model_info).transpose()
    }

    /// Registers a model, or points an existing name at new files (a remote model of that
    /// name becomes a local one).
    pub async fn register_model(
        &self,
        name: &str,
        kind: &str,
        path: &str,
    ) -> Result<ModelInfo, StoreError> {
        self.upsert_model(name, kind, path, None).await
    }

    /// Registers a remote model, or updates the one of that name.
    pub async fn register_remote_model(
        &self,
        name: &str,
        kind: &str,
        spec: &RemoteSpec,
    ) -> Result<ModelInfo, StoreError> {
        let json = serde_json::to_string(spec)
            .map_err(|e| StoreError::Invalid(format!("remote settings: {e}")))?;
        self.upsert_model(name, kind, &spec.base_url, Some(&json))
            .await
    }

    async fn upsert_model(
        &self,
        name: &str,
        kind: &str,
        path: &str,
        remote: Option<&str>,
    ) -> Result<ModelInfo, StoreError> {
        let name = name.trim();
        if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
            return Err(StoreError::Invalid(
                "a model needs a name of 1 to 64 printable characters".into(),
            ));
        }
        sql::query(
            "INSERT INTO models (name, kind, path, remote, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT(name) DO UPDATE SET kind = excluded.kind, path = excluded.path,
                remote = excluded.remote",
        )
        .bind(name)
        .bind(kind)
        .bind(path)
        .bind(remote)
        .bind(now())
        .execute(self.pool())
        .await?;
        self.model_named(name)
            .await?
            .ok_or_else(|| StoreError::Invalid(format!("model {name} was not stored")))
    }

    /// Removes a model from the registry (its files, if any, stay where they are).
    pub async fn remove_model(&self, name: &str) -> Result<bool, StoreError> {
        let r = sql::query("DELETE FROM models WHERE name = $1")
            .bind(name)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use crate::{sql, StoreOptions};

    #[tokio::test]
    async fn register_list_and_repoint() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::test_db::open(&dir.path().join("db.sqlite"), StoreOptions::default())
            .await
            .unwrap();
        assert!(store.models().await.unwrap().is_empty());
        let a = store
            .register_model("smollm2", "llama-gguf", "/m/a.gguf")
            .await
            .unwrap();
        let b = store
            .register_model("smollm2", "llama-gguf", "/m/b.gguf")
            .await
            .unwrap();
        assert_eq!((a.id, b.path.as_str()), (b.id, "/m/b.gguf"));
        assert_eq!(store.models().await.unwrap().len(), 1);
        assert!(store.model_named("other").await.unwrap().is_none());
        assert!(store.register_model(" ", "x", "/p").await.is_err());
    }

    #[tokio::test]
    async fn remote_models_keep_their_settings_but_no_key() {
        use crate::{DetailLevel, KeySource, RemoteSpec};
        let dir = tempfile::tempdir().unwrap();
        let store = crate::test_db::open(&dir.path().join("db.sqlite"), StoreOptions::default())
            .await
            .unwrap();
        let spec = RemoteSpec {
            base_url: "https://api.openai.com/v1".into(),
            remote_model: "gpt-4o".into(),
            api_key: KeySource::Env {
                var: "OPENAI_API_KEY".into(),
            },
            max_concurrency: 4,
            max_image_side: Some(1024),
            detail: Some(DetailLevel::High),
            price_in: Some(2.5),
            price_out: Some(10.0),
            first_token_timeout_s: None,
        };
        let m = store
            .register_remote_model("gpt-4o", "openai", &spec)
            .await
            .unwrap();
        assert_eq!(m.remote.as_ref(), Some(&spec));
        assert_eq!(m.path, "https://api.openai.com/v1");
        let (raw,): (String,) = sql::query_as("SELECT remote FROM models WHERE name = 'gpt-4o'")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert!(raw.contains("OPENAI_API_KEY") && !raw.contains("sk-"));
        // Pointing the name at files makes it a local model again.
        let local = store
            .register_model("gpt-4o", "llava", "/m/llava")
            .await
            .unwrap();
        assert_eq!(local.remote, None);
        assert!(store.remove_model("gpt-4o").await.unwrap());
        assert!(!store.remove_model("gpt-4o").await.unwrap());
    }
}
