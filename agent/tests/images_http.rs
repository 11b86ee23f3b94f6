//! The image endpoints over a real socket: streamed import (a body larger
//! than axum's default 2 MB limit), list, usage, delete with 404 and 409, and
//! problem+json errors.

mod images_support;

use std::sync::Arc;

use berth_agent::images::{ImageStore, http};
use berth_api::images::{Image, ImportResult, StoreUsage};
use images_support::{busybox_tar, require_root};

async fn serve(store: Arc<ImageStore>) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = http::router().with_state(store);
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}"), task)
}

#[tokio::test]
async fn import_list_delete_over_http() {
    if !require_root("import_list_delete_over_http") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tar = busybox_tar(tmp.path());
    assert!(std::fs::metadata(&tar).unwrap().len() > 2 << 20);
    let store = Arc::new(ImageStore::open(tmp.path().join("images")).unwrap());
    let (base, task) = serve(store.clone()).await;
    berth_net::install_providers();
    let client = reqwest::Client::new();

    let file = tokio::fs::File::open(&tar).await.unwrap();
    let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
    let res = client
        .post(format!("{base}/v1/images/import"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let imported: ImportResult = res.json().await.unwrap();
    assert_eq!(imported.images.len(), 1);
    let id = imported.images[0].id.clone();

    let list: Vec<Image> = client
        .get(format!("{base}/v1/images"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].references, ["docker.io/library/busybox:latest"]);
    let usage: StoreUsage = client
        .get(format!("{base}/v1/images/usage"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(usage.images, 1);

    // Bad body: 400 problem+json saying what was wrong.
    let res = client
        .post(format!("{base}/v1/images/import"))
        .body("definitely not a tarball, but long enough to fill a tar header block".repeat(10))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.headers()["content-type"],
        berth_api::error::PROBLEM_JSON
    );
    let problem: berth_api::Problem = res.json().await.unwrap();
    assert!(problem.detail.contains("archive"), "{}", problem.detail);

    // In use: 409. Unknown: 404. Then 204.
    store.add_user(&id, "c1").unwrap();
    let res = client
        .delete(format!("{base}/v1/images/busybox"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    let problem: berth_api::Problem = res.json().await.unwrap();
    assert!(problem.detail.contains("c1"));
    store.remove_user(&id, "c1").unwrap();
    let res = client
        .delete(format!("{base}/v1/images/nginx"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    // A full reference travels URL-encoded in one path segment.
    let res = client
        .delete(format!(
            "{base}/v1/images/docker.io%2Flibrary%2Fbusybox:latest"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert!(store.list().unwrap().is_empty());
    let res = client
        .delete(format!("{base}/v1/images/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    task.abort();
}
