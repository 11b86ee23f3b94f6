//! `berth-image-pull`: drives one pull (or import) of the image store from
//! the command line, for benchmarks (bench/pull.sh) and debugging; the agent
//! itself pulls through its API.
//!
//! ```text
//! berth-image-pull --store DIR [--insecure] [--user U --password P | --token T] REFERENCE
//! berth-image-pull --store DIR --import FILE.tar
//! ```

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, bail};
use berth_agent::images::ImageStore;
use berth_api::images::{PullProgress, PullRequest, RegistryAuth};
use clap::Parser;

#[derive(Parser)]
#[command(about = "Pull an image into a Berth image store")]
struct Args {
    /// The store's root directory.
    #[arg(long)]
    store: PathBuf,
    /// Allow plain HTTP for the reference's registry.
    #[arg(long)]
    insecure: bool,
    #[arg(long, requires = "password")]
    user: Option<String>,
    #[arg(long, requires = "user")]
    password: Option<String>,
    #[arg(long, conflicts_with = "user")]
    token: Option<String>,
    /// Layers downloaded at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Import this `docker save` or OCI-layout tarball instead of pulling.
    #[arg(long, conflicts_with = "reference")]
    import: Option<PathBuf>,
    /// Print every progress event as JSON.
    #[arg(long)]
    verbose: bool,
    reference: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let options = berth_agent::images::StoreOptions {
        pull_concurrency: args.concurrency,
        ..Default::default()
    };
    let store = ImageStore::open_with(&args.store, options).context("open the store")?;
    let started = Instant::now();
    let images = if let Some(path) = &args.import {
        let file = tokio::fs::File::open(path)
            .await
            .with_context(|| format!("open {}", path.display()))?;
        store.import(file).await?
    } else {
        let Some(reference) = args.reference.clone() else {
            bail!("give a reference to pull, or --import FILE");
        };
        let auth = match (args.user, args.password, args.token) {
            (Some(username), Some(password), _) => Some(RegistryAuth::Basic { username, password }),
            (_, _, Some(token)) => Some(RegistryAuth::Bearer { token }),
            _ => None,
        };
        let request = PullRequest {
            reference,
            auth,
            insecure: args.insecure,
            // A root tool on the host itself (benchmarks pull from a local
            // registry): no server policy applies.
            allow_internal_registries: true,
        };
        let layers_done = Mutex::new(0usize);
        let verbose = args.verbose;
        let progress = |p: PullProgress| {
            if verbose {
                println!("{}", serde_json::to_string(&p).unwrap_or_default());
            } else if matches!(p.status.as_str(), "complete" | "exists") {
                let mut n = layers_done.lock().unwrap_or_else(|e| e.into_inner());
                *n += 1;
                eprintln!("{} {} ({} bytes)", p.status, p.layer, p.total);
            }
        };
        vec![store.pull(&request, &progress).await?]
    };
    for image in images {
        println!(
            "{} {} {} bytes in {:.2}s",
            image.id,
            image.references.join(","),
            image.size_bytes,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
