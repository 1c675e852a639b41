//! `openadr-vtn`: the OpenLEADR VTN (OpenADR 3.1) for compute-ledger's demo and tests.
//!
//! Differences from the crate's own binary, and why:
//! - listens on `VTN_BIND` (default `127.0.0.1:3100`), never on every interface;
//! - applies the crate's migrations itself: two of them select from an un-aliased subquery,
//!   which PostgreSQL 15 (Debian 12's) rejects; each is applied with the alias added and
//!   recorded under the original file's checksum, so the VTN's own migrator finds nothing to do;
//! - creates the users listed in `VTN_USERS_FILE` (JSON: `[{"clientId", "secret", "role"}]`,
//!   role `"grid"` for the program operator, `"ven"` for a site), idempotently, through the
//!   crate's own credential store (argon2 hashes).
//!
//! Also read from the environment: `DATABASE_URL`, `OAUTH_BASE64_SECRET` (≥ 32 bytes),
//! `OAUTH_TOKEN_URL` (this server's `/auth/token`).
use std::{error::Error, path::PathBuf};

use openleadr_vtn::{
    VtnConfig,
    data_source::{DataSource, PostgresStorage},
    jwt::Scope,
    state::AppState,
};
use serde::Deserialize;
use sha2::{Digest, Sha384};
use sqlx::{Connection, PgConnection, postgres::PgPoolOptions};
use tracing::info;

include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// PostgreSQL 15 requires an alias on a subquery in FROM; PostgreSQL 16 and later do not.
const UNALIASED: &str = "FROM (SELECT unnest(_scopes) AS scope)";
const ALIASED: &str = "FROM (SELECT unnest(_scopes) AS scope) AS scopes";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserEntry {
    client_id: String,
    secret: String,
    role: Role,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Role {
    Grid,
    Ven,
}

impl Role {
    fn scopes(self) -> Vec<Scope> {
        match self {
            Role::Grid => vec![
                Scope::ReadAll,
                Scope::WritePrograms,
                Scope::WriteEvents,
                Scope::WriteReportsBl,
                Scope::WriteSubscriptionsBl,
                Scope::WriteVensBl,
                Scope::WriteUsers,
            ],
            Role::Ven => vec![
                Scope::ReadTargets,
                Scope::ReadVenObjects,
                Scope::WriteReportsVen,
                Scope::WriteSubscriptionsVen,
                Scope::WriteVensVen,
            ],
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let database_url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set")?;
    let bind = std::env::var("VTN_BIND").unwrap_or_else(|_| "127.0.0.1:3100".into());

    let mut connection = PgConnection::connect(&database_url).await?;
    migrate(&mut connection).await?;
    connection.close().await?;

    let pool = PgPoolOptions::new().min_connections(1).connect(&database_url).await?;
    let storage = PostgresStorage::new(pool)?;
    if let Ok(path) = std::env::var("VTN_USERS_FILE") {
        provision_users(&storage, &PathBuf::from(path)).await?;
    }

    let config = VtnConfig::from_env();
    let router = AppState::new(storage, &config).await.into_router();
    let listener =
        tokio::net::TcpListener::bind(&bind).await.map_err(|e| format!("bind {bind}: {e}"))?;
    info!("VTN listening on http://{}", listener.local_addr()?);
    axum::serve(listener, router).with_graceful_shutdown(shutdown_signal()).await?;
    Ok(())
}

/// Applies each migration not yet recorded, in one transaction each, as sqlx would.
async fn migrate(connection: &mut PgConnection) -> Result<(), Box<dyn Error>> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
            version BIGINT PRIMARY KEY, description TEXT NOT NULL,
            installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), success BOOLEAN NOT NULL,
            checksum BYTEA NOT NULL, execution_time BIGINT NOT NULL)",
    )
    .execute(&mut *connection)
    .await?;
    for (stem, sql) in MIGRATIONS {
        let (version, description) =
            stem.split_once('_').ok_or("migration file name without a version")?;
        let version: i64 = version.parse()?;
        let applied: Option<(i64,)> =
            sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE version = $1")
                .bind(version)
                .fetch_optional(&mut *connection)
                .await?;
        if applied.is_some() {
            continue;
        }
        let mut tx = connection.begin().await?;
        sqlx::raw_sql(&sql.replace(UNALIASED, ALIASED)).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES ($1, $2, true, $3, 0)",
        )
        .bind(version)
        .bind(description.replace('_', " "))
        .bind(Sha384::digest(sql.as_bytes()).to_vec())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        info!("applied migration {stem}");
    }
    Ok(())
}

async fn provision_users(storage: &PostgresStorage, path: &PathBuf) -> Result<(), Box<dyn Error>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let users: Vec<UserEntry> =
        serde_json::from_str(&text).map_err(|e| format!("parse {}: {e}", path.display()))?;
    let auth = storage.auth();
    let existing = auth.get_all_users().await.map_err(|e| format!("list users: {e:?}"))?;
    for user in users {
        // `UserDetails` exposes its reference only through serde.
        if existing.iter().any(|known| {
            serde_json::to_value(known).is_ok_and(|v| v["reference"] == user.client_id.as_str())
        }) {
            continue;
        }
        let created = auth
            .add_user(&user.client_id, None, &user.role.scopes())
            .await
            .map_err(|e| format!("add user {}: {e:?}", user.client_id))?;
        auth.add_credential(created.id(), &user.client_id, &user.secret)
            .await
            .map_err(|e| format!("add credential {}: {e:?}", user.client_id))?;
        info!("provisioned VTN user {}", user.client_id);
    }
    Ok(())
}

async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = terminate.recv() => {},
    }
}
