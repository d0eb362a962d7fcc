//! A fresh database with the paper's rows and the embedded sample recorded, as `serve` starts
//! with: what the page and snapshot tests read from.

use std::path::Path;
use std::sync::Arc;

use omnireward::data::{Benchmark, LoadOptions, embedded};
use omnireward::paper_results;
use omnireward::storage::Storage;

/// Opens `<folder>/omnireward.sqlite` with the paper's results and the embedded sample.
pub async fn paper_database(folder: &Path) -> (Storage, Arc<Benchmark>) {
    let storage = Storage::open(&folder.join("omnireward.sqlite"))
        .await
        .expect("opens the database");
    storage
        .import_paper_results(&paper_results::parse_embedded().expect("paper results parse"))
        .await
        .expect("imports the paper results");
    let benchmark = Arc::new(
        embedded::load(&folder.join("cache"), &LoadOptions::default())
            .expect("embedded sample loads"),
    );
    omnireward::evaluation::runs::record_benchmark(&storage, &benchmark)
        .await
        .expect("records the benchmark");
    (storage, benchmark)
}
