//! Command line: `serve` (default), `migrate`, `user ...`, `seed-demo`, `loadtest`.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::{self, Application, FirstAdmin};
use crate::audit::Entry;
use crate::config::Config;
use crate::users::{
    self,
    input::{NewUserForm, UserChange},
};

/// Centralita, an AI call center.
#[derive(Debug, Parser)]
#[command(name = "centralita", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the web app and API (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage staff accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Messaging channels' housekeeping.
    #[command(subcommand)]
    Channels(ChannelsCommand),
    /// Add demo users (one per role) and demo customers.
    SeedDemo,
    /// Print the routing agent's classification of a text, as JSON (the configured model,
    /// else the built-in engine).
    Classify {
        /// The customer message to classify.
        text: String,
    },
    /// Train the built-in engine's model from eval/corpus and eval/dev (run in the
    /// repository; writes src/agents/builtin/routing_model.txt) and print its
    /// cross-validated figures.
    TrainRouting {
        /// Folds of the cross-validation.
        #[arg(long, default_value_t = 5)]
        folds: usize,
        /// Compare a grid of ways to combine the model with the rules instead of the one
        /// in use.
        #[arg(long)]
        grid: bool,
    },
    /// Measure the built-in service agent's choice of tools and hand-overs against a
    /// labelled JSONL set of requests from a linked customer.
    EvalTools {
        /// The labelled set.
        #[arg(default_value = "eval/tools_dev/tools_dev1.jsonl")]
        file: std::path::PathBuf,
        /// Also list the misses.
        #[arg(long)]
        misses: bool,
    },
    /// Load-test a server on this machine (started here, or --url) and print latencies,
    /// errors, memory and CPU per turn.
    Loadtest(crate::loadtest::Options),
    /// Measure the built-in routing classifier against a labelled JSONL set.
    EvalRouting {
        /// The labelled set.
        #[arg(default_value = "eval/dev/routing_dev.jsonl")]
        file: std::path::PathBuf,
        /// Also list the department misses.
        #[arg(long)]
        misses: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ChannelsCommand {
    /// Delete processed WhatsApp webhook events older than this many days (events not
    /// processed yet are always kept); prints how many were deleted.
    Cleanup {
        /// Age in days (1 to 36500).
        #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=36500))]
        days: u32,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account; prints a generated temporary password unless --password is given.
    Create {
        /// Login name.
        username: String,
        /// Email address.
        #[arg(long)]
        email: String,
        /// Role: admin, supervisor, agent or viewer.
        #[arg(long, default_value = "agent")]
        role: String,
        /// Display name (defaults to the username).
        #[arg(long)]
        full_name: Option<String>,
        /// Interface language: es or en.
        #[arg(long, default_value = "es")]
        language: String,
        /// Password (else generated and printed; it must be changed at first sign-in).
        #[arg(long, env = "CENTRALITA_NEW_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// List accounts.
    List,
    /// Set a password (prints a generated one unless --password is given).
    SetPassword {
        /// Login name.
        username: String,
        /// New password.
        #[arg(long, env = "CENTRALITA_NEW_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Disable an account and end its sessions and tokens.
    Disable {
        /// Login name.
        username: String,
    },
}

/// Entry point used by `main.rs`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(err) => {
            eprintln!("centralita: {err}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(err) => {
            eprintln!("centralita: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, config)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("centralita: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_sessions=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if config.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn run(cli: Cli, config: Config) -> anyhow::Result<ExitCode> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Classify { text } => {
            // The routing agent as configured: the remote model when set, else built in.
            let pipeline = app::build_pipeline(&config)?;
            let (classification, step) = pipeline.classify(&text).await;
            say(&serde_json::to_string_pretty(&classification)?);
            if step.outcome != "ok" {
                eprintln!("({}: {})", step.backend, step.outcome);
            }
            if std::env::var_os("CENTRALITA_EXPLAIN").is_some() {
                for (pattern, category, weight) in crate::agents::builtin::routing::explain(&text) {
                    eprintln!("  {weight:>4.1} {category:<18} {pattern}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::TrainRouting { folds, grid } => {
            use crate::agents::train;
            let root = std::path::Path::new(".");
            let examples = train::training_examples(root).map_err(|e| anyhow::anyhow!(e))?;
            let model = train::train(&examples);
            std::fs::write(root.join(train::MODEL_PATH), &model)
                .map_err(|e| anyhow::anyhow!("{}: {e}", train::MODEL_PATH))?;
            say(&format!(
                "{} examples; model written to {} ({} bytes)",
                examples.len(),
                train::MODEL_PATH,
                model.len()
            ));
            let tunings = if grid { train::grid() } else { vec![crate::agents::builtin::routing::TUNING] };
            let scores = train::cross_validate(&examples, folds.max(2), &tunings);
            say(train::table(&tunings, &scores).trim_end());

            let requests = train::tool_training_examples(root).map_err(|e| anyhow::anyhow!(e))?;
            let intents = train::train_intents(&requests);
            let path = crate::agents::builtin::intents::MODEL_PATH;
            std::fs::write(root.join(path), &intents).map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
            say(&format!("{} requests; intent model written to {path} ({} bytes)", requests.len(), intents.len()));
            let thresholds: Vec<f32> = if grid {
                vec![0.2, 0.25, 0.3, 0.35, 0.4, 0.5]
            } else {
                vec![crate::agents::builtin::intents::THRESHOLD]
            };
            let scores = train::cross_validate_intents(&requests, folds.max(2), &thresholds);
            say(train::intent_table(&thresholds, &scores).trim_end());
            Ok(ExitCode::SUCCESS)
        }
        Command::EvalTools { file, misses } => {
            let text = std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let report = crate::agents::eval::evaluate_tools(&text)
                .await
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            say(report.to_string().trim_end());
            if misses {
                say(report.misses().trim_end());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::EvalRouting { file, misses } => {
            let text = std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let report =
                crate::agents::eval::evaluate(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            say(report.to_string().trim_end());
            if misses {
                say(report.misses().trim_end());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Loadtest(options) => crate::loadtest::main(options).await,
        Command::Serve => {
            let app = Application::build(config.clone()).await?;
            announce_first_admin(app.first_admin());
            tracing::info!(addr = %config.addr, port = app.port(), "Centralita is listening");
            println!("Centralita: http://{}:{}/", config.addr.ip(), app.port());
            app.run_until_stopped().await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            let (_, first) = app::prepare(&config).await?;
            announce_first_admin(&first);
            println!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::User(cmd) => user_command(cmd, &config).await,
        Command::Channels(ChannelsCommand::Cleanup { days }) => {
            let db = crate::db::Db::connect(&config.database_url, config.db_max_connections).await?;
            db.migrate().await?;
            let deleted = crate::channels::whatsapp::cleanup(&db, days).await?;
            println!("deleted {deleted} processed WhatsApp webhook events older than {days} days");
            Ok(ExitCode::SUCCESS)
        }
        Command::SeedDemo => {
            let (db, first) = app::prepare(&config).await?;
            announce_first_admin(&first);
            let report = crate::seed::seed_demo(&db).await?;
            print!("{report}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Prints a line to stdout, ignoring a closed pipe (`centralita classify … | head`).
fn say(text: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

fn announce_first_admin(first: &FirstAdmin) {
    match first {
        FirstAdmin::NotNeeded => {}
        FirstAdmin::FromEnv => {
            println!("Created the first admin account 'admin' with CENTRALITA_ADMIN_PASSWORD.")
        }
        FirstAdmin::Generated(password) => {
            // Printed once, on purpose, to the console only (never to the logs).
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "==============================================================");
            let _ = writeln!(out, " First admin account created. Sign in and change the password:");
            let _ = writeln!(out, "   username: admin");
            let _ = writeln!(out, "   password: {password}");
            let _ = writeln!(out, " This password is shown only once.");
            let _ = writeln!(out, "==============================================================");
        }
    }
}

async fn user_command(cmd: UserCommand, config: &Config) -> anyhow::Result<ExitCode> {
    let (db, first) = app::prepare(config).await?;
    announce_first_admin(&first);
    match cmd {
        UserCommand::Create { username, email, role, full_name, language, password } => {
            let generated = password.is_none();
            let password = password.unwrap_or_else(crate::auth::password::generate);
            let form = NewUserForm {
                full_name: full_name.unwrap_or_else(|| username.clone()),
                username,
                email,
                role,
                language,
                password: password.clone(),
                csrf_token: None,
            };
            let new = match form.parse() {
                Ok(n) => n,
                Err(fields) => return Ok(field_errors(&fields)),
            };
            match users::insert(&db, &new, generated, &Entry::new(None, "system", "user.create")).await {
                Ok(user) => {
                    println!("created user {} (id {}, role {})", user.username, user.id, user.role);
                    if generated {
                        println!("temporary password: {password}");
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(crate::error::AppError::Validation(fields)) => Ok(field_errors(&fields)),
                Err(e) => Err(anyhow::anyhow!("{e}")),
            }
        }
        UserCommand::List => {
            println!("{:<6} {:<20} {:<11} {:<9} email", "id", "username", "role", "status");
            for u in users::list(&db).await? {
                let status = if u.disabled { "disabled" } else { "active" };
                println!("{:<6} {:<20} {:<11} {:<9} {}", u.id, u.username, u.role, status, u.email);
            }
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::SetPassword { username, password } => {
            let generated = password.is_none();
            let password = password.unwrap_or_else(crate::auth::password::generate);
            if let Err(key) = crate::auth::password::check_strength(&password) {
                eprintln!("password: {}", crate::i18n::t(crate::i18n::Lang::En, key));
                return Ok(ExitCode::from(2));
            }
            let name = username.trim().to_lowercase();
            let change = UserChange { password: Some(password.clone()), ..UserChange::default() };
            if cli_change(&db, &name, &change, generated).await? {
                println!("password set for {name}");
                if generated {
                    println!("temporary password: {password}");
                }
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("no user named {name}");
                Ok(ExitCode::from(1))
            }
        }
        UserCommand::Disable { username } => {
            let name = username.trim().to_lowercase();
            let change = UserChange { disabled: Some(true), ..UserChange::default() };
            if cli_change(&db, &name, &change, false).await? {
                println!("disabled {name}; their sessions and tokens have ended");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("no user named {name}");
                Ok(ExitCode::from(1))
            }
        }
    }
}

/// Applies a change by username: true when the user exists. Rule violations (the last
/// admin) become an error that says why.
async fn cli_change(db: &crate::db::Db, username: &str, change: &UserChange, temporary: bool) -> anyhow::Result<bool> {
    match users::update_from_cli(db, username, change, temporary).await {
        Ok(found) => Ok(found.is_some()),
        Err(crate::error::AppError::Validation(fields)) => {
            let why: Vec<&str> = fields.values().map(|k| crate::i18n::t(crate::i18n::Lang::En, k)).collect();
            Err(anyhow::anyhow!("{}", why.join(" ")))
        }
        Err(e) => Err(anyhow::anyhow!("{e}")),
    }
}

fn field_errors(fields: &crate::error::FieldErrors) -> ExitCode {
    for (field, key) in fields {
        eprintln!("{field}: {}", crate::i18n::t(crate::i18n::Lang::En, key));
    }
    ExitCode::from(2)
}
