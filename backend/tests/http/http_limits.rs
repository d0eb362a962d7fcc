//! The real `omnireward serve` under short connection limits, driven by raw TCP clients: partial
//! headers, a partial JSON body and a stalled upload are cut off at their timeouts (the upload's
//! staging folder removed), idle keep-alive connections close, and the connection cap holds
//! (connections over it wait, unanswered, until one closes).

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// A running server, stopped when dropped.
struct Server {
    child: Child,
    address: String,
    home: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn uploads(&self) -> PathBuf {
        self.home.path().join("uploads")
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(&self.address).await.expect("connects")
    }
}

/// Starts `omnireward serve` on a free port with these extra arguments.
fn start(extra: &[&str]) -> Server {
    let home = TempDir::new().expect("home");
    let mut child = Command::new(env!("CARGO_BIN_EXE_omnireward"))
        .arg("--home")
        .arg(home.path())
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--no-demo",
            "--workers",
            "0",
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts the server");
    let stderr = child.stderr.take().expect("stderr");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sender = Some(sender);
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("on http://").nth(1)
                && let Some(sender) = sender.take()
            {
                let _ = sender.send(rest.split('/').next().unwrap_or_default().to_owned());
            }
        }
    });
    let address = receiver
        .recv_timeout(Duration::from_secs(60))
        .expect("the server says where it listens");
    Server {
        child,
        address,
        home,
    }
}

/// Reads until the server closes the connection (or `limit` passes: `None`); returns what
/// was read and when the connection closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<(String, Instant)> {
    let mut received = Vec::new();
    let mut buffer = [0_u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => {
                return Some((
                    String::from_utf8_lossy(&received).into_owned(),
                    Instant::now(),
                ));
            }
            Ok(Ok(read)) => received.extend_from_slice(&buffer[..read]),
        }
    }
}

/// Staging folders of uploads in progress.
fn staging_folders(uploads: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(uploads)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|entry| entry.file_name().to_string_lossy().starts_with('.'))
                .map(|entry| entry.path())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_headers_are_cut_off_at_the_header_timeout() {
    let server = start(&["--header-timeout", "1", "--keep-alive-timeout", "30"]);
    let mut stream = server.connect().await;
    let started = Instant::now();
    stream
        .write_all(b"GET /api/v1/tasks HTTP/1.1\r\nHost: test\r\n")
        .await
        .expect("sends");
    // A byte every 200 ms: the timeout counts from the first byte, so trickling does not help.
    let trickle = async {
        for byte in b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if stream.write_all(&[*byte]).await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(3), trickle).await;
    let (_, closed) = read_until_closed(&mut stream, Duration::from_secs(5))
        .await
        .expect("the server closes the connection");
    let after = closed.duration_since(started);
    assert!(
        after < Duration::from_millis(3500),
        "closed after {after:?} (header timeout 1 s)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_json_body_gets_408_at_the_body_timeout() {
    let server = start(&["--body-idle-timeout", "1"]);
    let mut stream = server.connect().await;
    stream
        .write_all(
            b"POST /api/v1/submissions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
              Content-Length: 200\r\n\r\n{\"name\": \"half",
        )
        .await
        .expect("sends");
    let started = Instant::now();
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(10))
        .await
        .expect("the server answers and closes the connection");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"request_timeout\""), "{answer}");
    let after = closed.duration_since(started);
    assert!(
        (Duration::from_millis(900)..Duration::from_secs(4)).contains(&after),
        "closed after {after:?} (body timeout 1 s)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upload_is_dropped_with_its_staging_folder() {
    let server = start(&["--body-idle-timeout", "1"]);
    let mut stream = server.connect().await;
    let boundary = "limits-test-boundary";
    let start_of_body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nstalled\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"files\"; \
         filename=\"config.json\"\r\nContent-Type: application/json\r\n\r\n{{\"architectures\": [{}",
        " ".repeat(4096)
    );
    let head = format!(
        "POST /api/v1/submissions HTTP/1.1\r\nHost: test\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 10000000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("sends");
    stream
        .write_all(start_of_body.as_bytes())
        .await
        .expect("sends");
    // The upload is being staged…
    let seen = Instant::now();
    while staging_folders(&server.uploads()).is_empty() {
        assert!(
            seen.elapsed() < Duration::from_secs(5),
            "no staging folder appeared"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // …then the client stalls.
    let (answer, _) = read_until_closed(&mut stream, Duration::from_secs(10))
        .await
        .expect("the server answers and closes the connection");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // The staging folder is removed off the async workers, just after the answer.
    let answered = Instant::now();
    while !staging_folders(&server.uploads()).is_empty() {
        assert!(
            answered.elapsed() < Duration::from_secs(5),
            "the staging folder stayed: {:?}",
            staging_folders(&server.uploads())
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_close_at_their_timeout() {
    let server = start(&["--header-timeout", "10", "--keep-alive-timeout", "1"]);
    let mut stream = server.connect().await;
    stream
        .write_all(b"GET /api/v1/tasks HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("sends");
    let started = Instant::now();
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(8))
        .await
        .expect("the idle connection is closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let after = closed.duration_since(started);
    assert!(
        after < Duration::from_secs(4),
        "closed after {after:?} (keep-alive timeout 1 s, header timeout 10 s)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_wait_until_one_closes() {
    let server = start(&["--max-connections", "2", "--header-timeout", "30"]);
    let first = server.connect().await;
    let mut second = server.connect().await;
    // The two are served (an answer on the second shows the server accepted both).
    second
        .write_all(b"GET /api/v1/tasks HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("sends");
    let mut buffer = [0_u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), second.read(&mut buffer))
        .await
        .expect("the second connection is answered")
        .expect("reads");
    assert!(buffer[..read].starts_with(b"HTTP/1.1 200"));
    // A third connects (the backlog takes it) but is not answered while two are open.
    let mut third = server.connect().await;
    third
        .write_all(b"GET /api/v1/tasks HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .expect("sends");
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), third.read(&mut buffer))
            .await
            .is_err(),
        "a connection over the cap was served"
    );
    // Once one closes, the waiting one is served.
    drop(first);
    let (answer, _) = read_until_closed(&mut third, Duration::from_secs(5))
        .await
        .expect("the waiting connection is served");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
