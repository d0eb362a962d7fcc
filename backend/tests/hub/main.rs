//! The Hub client, downloads and checkpoint checks against the fake Hub on 127.0.0.1: resumed
//! downloads, refused bytes, redirects to another origin without the token, private
//! repositories, status answers with retries, the `huggingface-cli` cache, and checkpoints
//! refused from their file list before any download.

#[path = "../support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::time::Duration;

use omnireward::hub::dataset;
use omnireward::hub::download::{Source, download_file, partial_path};
use omnireward::hub::model::{self, DEFAULT_MAX_CHECKPOINT_BYTES};
use omnireward::hub::snapshot::{Progress, SnapshotRecord};
use omnireward::hub::{HubClient, HubError, HubReference, HubSettings, HubToken, RepoId, RepoKind};
use support::fake_hub::{FakeHub, FakeRepo, Host};

fn client(hub: &FakeHub, token: Option<&str>) -> HubClient {
    HubClient::new(HubSettings {
        endpoint: hub.base.clone(),
        token: token.and_then(HubToken::new),
        hf_home: None,
    })
    .expect("a client")
    .with_retries(4, Duration::from_millis(10), Duration::from_millis(50))
}

fn bert_tiny() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("local-judge/tests/fixtures/bert-tiny")
}

fn payload(length: usize) -> Vec<u8> {
    (0..length).map(|index| (index * 7 % 251) as u8).collect()
}

fn dataset_repo() -> FakeRepo {
    FakeRepo::new("datasets", "org/bench")
        .with_file("data/big.bin.parquet", payload(100_000))
        .with_file("README.md", b"# a card".to_vec())
}

async fn fetch_big(hub: &FakeHub, folder: &std::path::Path) -> Result<(), HubError> {
    let client = client(hub, None);
    let repository = RepoId::parse("org/bench").expect("valid");
    let info = client
        .revision(RepoKind::Dataset, &repository, "main")
        .await
        .expect("revision info");
    let file = info.file("data/big.bin.parquet").expect("listed").clone();
    assert_eq!(file.size, 100_000);
    assert!(file.sha256.is_some(), "large files are LFS files");
    download_file(
        &client,
        Source {
            kind: RepoKind::Dataset,
            repository: &repository,
            commit: &info.commit,
        },
        &file,
        &folder.join("big.parquet"),
        &indicatif::ProgressBar::hidden(),
    )
    .await
}

#[tokio::test]
async fn a_download_cut_in_the_middle_resumes_with_a_range() {
    let hub = FakeHub::start(vec![dataset_repo()], None).await;
    let folder = tempfile::TempDir::new().expect("folder");
    hub.cut_once("data/big.bin.parquet");
    fetch_big(&hub, folder.path()).await.expect("downloads");
    assert_eq!(
        std::fs::read(folder.path().join("big.parquet")).expect("reads"),
        payload(100_000)
    );
    assert!(!partial_path(&folder.path().join("big.parquet")).exists());
    let cdn: Vec<_> = hub
        .downloads()
        .into_iter()
        .filter(|seen| seen.host == Host::Cdn)
        .collect();
    assert_eq!(cdn.len(), 2, "{cdn:?}");
    assert_eq!(cdn[0].range, None);
    assert_eq!(cdn[1].range.as_deref(), Some("bytes=50000-"));
}

#[tokio::test]
async fn a_partial_file_left_by_an_earlier_command_is_resumed() {
    let hub = FakeHub::start(vec![dataset_repo()], None).await;
    let folder = tempfile::TempDir::new().expect("folder");
    std::fs::write(
        partial_path(&folder.path().join("big.parquet")),
        &payload(100_000)[..30_000],
    )
    .expect("writes");
    fetch_big(&hub, folder.path()).await.expect("downloads");
    assert_eq!(
        std::fs::read(folder.path().join("big.parquet")).expect("reads"),
        payload(100_000)
    );
    let ranges: Vec<_> = hub.downloads().into_iter().map(|seen| seen.range).collect();
    assert!(
        ranges
            .iter()
            .all(|range| range.as_deref() == Some("bytes=30000-")),
        "{ranges:?}"
    );
}

#[tokio::test]
async fn bytes_that_do_not_match_the_listed_hash_are_refused_and_not_kept() {
    let hub = FakeHub::start(vec![dataset_repo()], None).await;
    let folder = tempfile::TempDir::new().expect("folder");
    hub.corrupt("data/big.bin.parquet");
    let error = fetch_big(&hub, folder.path()).await.expect_err("refused");
    assert!(
        matches!(
            error,
            HubError::Mismatch {
                what: "SHA-256",
                ..
            }
        ),
        "{error}"
    );
    assert!(
        error.to_string().contains("org/bench/data/big.bin.parquet"),
        "{error}"
    );
    assert_eq!(
        std::fs::read_dir(folder.path()).expect("lists").count(),
        0,
        "neither the file nor its partial download is kept"
    );
}

#[tokio::test]
async fn the_token_goes_to_the_hub_and_never_to_the_host_a_redirect_names() {
    let mut repo = dataset_repo();
    repo.private = true;
    let hub = FakeHub::start(vec![repo], Some("hf_secret")).await;
    let folder = tempfile::TempDir::new().expect("folder");
    let repository = RepoId::parse("org/bench").expect("valid");
    // Without the token the private repository is a clear 401.
    let error = client(&hub, None)
        .revision(RepoKind::Dataset, &repository, "main")
        .await
        .expect_err("refused");
    assert!(
        matches!(error, HubError::Unauthorized { status: 401, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("HF_TOKEN"), "{error}");

    let client = client(&hub, Some("hf_secret"));
    let info = client
        .revision(RepoKind::Dataset, &repository, "main")
        .await
        .expect("revision info");
    let file = info.file("data/big.bin.parquet").expect("listed").clone();
    let source = Source {
        kind: RepoKind::Dataset,
        repository: &repository,
        commit: &info.commit,
    };
    download_file(
        &client,
        source,
        &file,
        &folder.path().join("big.parquet"),
        &indicatif::ProgressBar::hidden(),
    )
    .await
    .expect("downloads");
    let seen = hub.seen();
    assert!(
        seen.iter().any(|seen| seen.host == Host::Cdn),
        "redirected to the CDN"
    );
    for request in &seen {
        match request.host {
            Host::Hub if request.path.contains("org/bench") && request.authorization.is_some() => {
                assert_eq!(request.authorization.as_deref(), Some("Bearer hf_secret"));
            }
            Host::Cdn => assert_eq!(request.authorization, None, "{request:?}"),
            Host::Hub => {}
        }
    }
    assert!(!format!("{client:?}").contains("hf_secret"));
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_and_missing_things_are_named() {
    let hub = FakeHub::start(vec![dataset_repo()], None).await;
    let repository = RepoId::parse("org/bench").expect("valid");
    let client = client(&hub, None);
    hub.answer_next(&[(429, Some(0)), (503, None), (500, None)]);
    let info = client
        .revision(RepoKind::Dataset, &repository, "main")
        .await
        .expect("answers on the fourth attempt");
    assert_eq!(info.files.len(), 2);
    assert_eq!(hub.seen().len(), 4);

    hub.answer_next(&[(502, None), (502, None), (502, None), (502, None)]);
    let error = client
        .revision(RepoKind::Dataset, &repository, "main")
        .await
        .expect_err("gives up");
    assert!(
        matches!(error, HubError::Unavailable { attempts: 4, .. }),
        "{error}"
    );

    let error = client
        .revision(RepoKind::Dataset, &repository, "v9")
        .await
        .expect_err("no such revision");
    assert!(matches!(error, HubError::NotFound { .. }), "{error}");
    assert!(
        error.to_string().contains("org/bench: revision `v9`"),
        "{error}"
    );
    let missing = RepoId::parse("org/missing").expect("valid");
    let error = client
        .revision(RepoKind::Dataset, &missing, "main")
        .await
        .expect_err("no such repository");
    assert!(error.to_string().contains("org/missing"), "{error}");
}

#[tokio::test]
async fn files_in_a_hugging_face_cache_are_reused_without_a_download() {
    let hub = FakeHub::start(vec![dataset_repo()], None).await;
    let repository = RepoId::parse("org/bench").expect("valid");
    let info = client(&hub, None)
        .revision(RepoKind::Dataset, &repository, "main")
        .await
        .expect("revision info");
    let hf_home = tempfile::TempDir::new().expect("folder");
    let big = info.file("data/big.bin.parquet").expect("listed");
    let blobs = hf_home.path().join("hub/datasets--org--bench/blobs");
    std::fs::create_dir_all(&blobs).expect("creates");
    std::fs::write(
        blobs.join(big.sha256.as_deref().expect("LFS")),
        payload(100_000),
    )
    .expect("writes");
    let client = HubClient::new(HubSettings {
        endpoint: hub.base.clone(),
        token: None,
        hf_home: Some(hf_home.path().to_owned()),
    })
    .expect("a client");
    let folder = tempfile::TempDir::new().expect("folder");
    let reference = HubReference::parse("org/bench").expect("valid");
    let record = dataset::download(
        &client,
        &reference,
        folder.path(),
        Progress::Hidden,
        Default::default(),
    )
    .await
    .expect("downloads");
    assert_eq!(record.commit, info.commit);
    assert_eq!(
        std::fs::read(folder.path().join("data/big.bin.parquet")).expect("reads"),
        payload(100_000)
    );
    let downloaded: Vec<_> = hub.downloads().into_iter().map(|seen| seen.path).collect();
    assert_eq!(
        downloaded.len(),
        1,
        "only the card is downloaded: {downloaded:?}"
    );
    assert!(downloaded[0].ends_with("README.md"));
    assert_eq!(SnapshotRecord::read(folder.path()), Some(record));
}

#[tokio::test]
async fn an_archive_entry_leaving_the_folder_is_refused() {
    let mut archive = std::io::Cursor::new(Vec::new());
    {
        use std::io::Write as _;
        let mut writer = zip::ZipWriter::new(&mut archive);
        let options = zip::write::SimpleFileOptions::default();
        writer
            .start_file("media_data/ok.png", options)
            .expect("starts");
        writer.write_all(b"fine").expect("writes");
        writer
            .start_file("../outside.txt", options)
            .expect("starts");
        writer.write_all(b"escape").expect("writes");
        writer.finish().expect("finishes");
    }
    let repo =
        FakeRepo::new("datasets", "org/bench").with_file("media_data.zip", archive.into_inner());
    let hub = FakeHub::start(vec![repo], None).await;
    let root = tempfile::TempDir::new().expect("folder");
    let folder = root.path().join("bench");
    let error = dataset::download(
        &client(&hub, None),
        &HubReference::parse("org/bench").expect("valid"),
        &folder,
        Progress::Hidden,
        Default::default(),
    )
    .await
    .expect_err("refused");
    assert!(matches!(error, HubError::Archive { .. }), "{error}");
    assert!(error.to_string().contains("../outside.txt"), "{error}");
    assert!(!root.path().join("outside.txt").exists());
    assert!(
        !folder.join("media_data").exists(),
        "nothing of the archive is kept"
    );
    assert!(
        SnapshotRecord::read(&folder).is_none(),
        "the folder is not recorded as complete"
    );
}

fn checkpoint_repo(id: &str) -> FakeRepo {
    FakeRepo::new("models", id).with_folder(&bert_tiny(), "")
}

#[tokio::test]
async fn checkpoints_are_refused_from_their_file_list_before_any_download() {
    let mut unsupported = checkpoint_repo("org/unsupported");
    unsupported.files.insert(
        "config.json".to_owned(),
        br#"{"architectures": ["GPT2LMHeadModel"]}"#.to_vec(),
    );
    let hub = FakeHub::start(
        vec![
            checkpoint_repo("org/pickled").with_file("pytorch_model.bin", payload(2000)),
            unsupported,
            checkpoint_repo("org/fine"),
        ],
        None,
    )
    .await;
    let client = client(&hub, None);
    let check = |id: &str, limit| {
        let client = client.clone();
        let reference = HubReference::parse(id).expect("valid");
        async move { model::check(&client, &reference, limit).await }
    };
    let error = check("org/pickled", DEFAULT_MAX_CHECKPOINT_BYTES)
        .await
        .expect_err("pickle");
    assert!(error.to_string().contains("pytorch_model.bin"), "{error}");
    let error = check("org/fine", 1000).await.expect_err("too large");
    assert!(error.to_string().contains("limit of 1000"), "{error}");
    assert!(
        hub.downloads().is_empty(),
        "nothing downloaded: {:?}",
        hub.downloads()
    );
    let error = check("org/unsupported", DEFAULT_MAX_CHECKPOINT_BYTES)
        .await
        .expect_err("unsupported");
    assert!(error.to_string().contains("GPT2LMHeadModel"), "{error}");
    let downloads: Vec<_> = hub.downloads().into_iter().map(|seen| seen.path).collect();
    assert_eq!(
        downloads,
        vec![
            "/org/unsupported/resolve/".to_owned()
                + &FakeRepo::new("models", "org/unsupported").commit
                + "/config.json"
        ]
    );

    let checked = check("org/fine", DEFAULT_MAX_CHECKPOINT_BYTES)
        .await
        .expect("accepted");
    assert_eq!(checked.architecture, "BertForSequenceClassification");
    assert!(
        checked
            .files
            .iter()
            .any(|file| file.path == "model.safetensors"),
        "{checked:?}"
    );
    let cache = tempfile::TempDir::new().expect("folder");
    let folder = model::fetch(&client, &checked, cache.path(), Progress::Hidden)
        .await
        .expect("fetches");
    assert_eq!(folder, checked.folder(cache.path()));
    assert_eq!(
        std::fs::read(folder.join("model.safetensors")).expect("reads"),
        std::fs::read(bert_tiny().join("model.safetensors")).expect("reads")
    );
    // A second fetch of the same commit reuses the shared folder.
    let before = hub.downloads().len();
    model::fetch(&client, &checked, cache.path(), Progress::Hidden)
        .await
        .expect("fetches");
    assert_eq!(hub.downloads().len(), before);
}
