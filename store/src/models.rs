//! The model registry: names users pick in the UI and on the command line, and where each
//! model's files are (inside the data folder's `models/` store, or anywhere for local files).

use crate::db::{now, Store, StoreError};
use crate::records::ModelInfo;

impl Store {
    /// Registered models, by name.
    pub async fn models(&self) -> Result<Vec<ModelInfo>, StoreError> {
        let rows: Vec<(i64, String, String, String)> =
            sqlx::query_as("SELECT id, name, kind, path FROM models ORDER BY name")
                .fetch_all(self.pool())
                .await?;
        Ok(rows
            .into_iter()
            .map(|(id, name, kind, path)| ModelInfo {
                id,
                name,
                kind,
                path,
            })
            .collect())
    }

    /// The model registered under `name`.
    pub async fn model_named(&self, name: &str) -> Result<Option<ModelInfo>, StoreError> {
        let row: Option<(i64, String, String, String)> =
            sqlx::query_as("SELECT id, name, kind, path FROM models WHERE name = ?")
                .bind(name)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|(id, name, kind, path)| ModelInfo {
            id,
            name,
            kind,
            path,
        }))
    }

    /// Registers a model, or points an existing name at new files.
    pub async fn register_model(
        &self,
        name: &str,
        kind: &str,
        path: &str,
    ) -> Result<ModelInfo, StoreError> {
        if name.trim().is_empty() {
            return Err(StoreError::Invalid("a model needs a name".into()));
        }
        sqlx::query(
            "INSERT INTO models (name, kind, path, created_at) VALUES (?, ?, ?, ?)
             ON CONFLICT(name) DO UPDATE SET kind = excluded.kind, path = excluded.path",
        )
        .bind(name)
        .bind(kind)
        .bind(path)
        .bind(now())
        .execute(self.pool())
        .await?;
        self.model_named(name)
            .await?
            .ok_or_else(|| StoreError::Invalid(format!("model {name} was not stored")))
    }
}

#[cfg(test)]
mod tests {
    use crate::{Store, StoreOptions};

    #[tokio::test]
    async fn register_list_and_repoint() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite"), StoreOptions::default())
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
}
