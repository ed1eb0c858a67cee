//! The inventory: the objects Slipway applied per app/environment, with
//! the hash of each manifest, the resourceVersion the server answered and
//! the server's form of the fields Slipway owns (the reference for drift).

use rusqlite::params;

use super::{decode, encode};
use crate::store::{Store, StoreError};
use crate::sync::plan::{InventoryEntry, ObjectRef};

impl Store {
    /// The objects Slipway applied for one app/environment.
    pub async fn sync_inventory(
        &self,
        app: &str,
        environment: &str,
    ) -> Result<Vec<InventoryEntry>, StoreError> {
        let (app, environment) = (app.to_string(), environment.to_string());
        self.read(move |conn| {
            let mut s = conn.prepare(
                "SELECT object_json, manifest_hash, resource_version, owned_json FROM sync_inventory
                 WHERE app = ?1 AND environment = ?2 ORDER BY object_key",
            )?;
            let rows = s.query_map(params![app, environment], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (object, hash, resource_version, owned) = row?;
                let object: ObjectRef = decode("inventory object", &object)?;
                let owned = match owned {
                    Some(json) => Some(decode("inventory owned form", &json)?),
                    None => None,
                };
                out.push(InventoryEntry {
                    object,
                    hash,
                    resource_version,
                    owned,
                });
            }
            Ok(out)
        })
        .await
    }

    /// Record applied (or re-observed) objects and forget pruned ones, in one
    /// transaction.
    pub async fn update_sync_inventory(
        &self,
        app: &str,
        environment: &str,
        upsert: Vec<InventoryEntry>,
        remove: Vec<ObjectRef>,
    ) -> Result<(), StoreError> {
        if upsert.is_empty() && remove.is_empty() {
            return Ok(());
        }
        let (app, environment) = (app.to_string(), environment.to_string());
        self.write(move |conn| {
            for e in &upsert {
                let owned = match &e.owned {
                    Some(form) => Some(encode("inventory owned form", form)?),
                    None => None,
                };
                conn.execute(
                    "INSERT INTO sync_inventory (app, environment, object_key, object_json, manifest_hash, resource_version, owned_json)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (app, environment, object_key)
                     DO UPDATE SET object_json = ?4, manifest_hash = ?5, resource_version = ?6, owned_json = ?7",
                    params![app, environment, e.object.key(), encode("inventory object", &e.object)?, e.hash, e.resource_version, owned],
                )?;
            }
            for object in &remove {
                conn.execute(
                    "DELETE FROM sync_inventory WHERE app = ?1 AND environment = ?2 AND object_key = ?3",
                    params![app, environment, object.key()],
                )?;
            }
            Ok(())
        })
        .await
    }

    /// Whether an app/environment other than `app`/`environment` has
    /// objects in `namespace` (a Namespace is never pruned while in use).
    pub async fn namespace_used_by_others(
        &self,
        namespace: &str,
        app: &str,
        environment: &str,
    ) -> Result<bool, StoreError> {
        let (namespace, app, environment) = (
            namespace.to_string(),
            app.to_string(),
            environment.to_string(),
        );
        self.read(move |conn| {
            let mut s = conn.prepare(
                "SELECT object_json FROM sync_inventory WHERE NOT (app = ?1 AND environment = ?2)",
            )?;
            let rows = s.query_map(params![app, environment], |r| r.get::<_, String>(0))?;
            for row in rows {
                let object: ObjectRef = decode("inventory object", &row?)?;
                if object.namespace.as_deref() == Some(namespace.as_str()) {
                    return Ok(true);
                }
            }
            Ok(false)
        })
        .await
    }
}
