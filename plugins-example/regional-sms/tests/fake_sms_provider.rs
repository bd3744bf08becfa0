//! The `fake-sms-provider` binary keeps the contract the README's demo relies on: it announces
//! its address, checks the bearer token, and accepts or refuses messages.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

/// The fake provider running on a free loopback port; killed on drop.
struct Fake {
    child: Child,
    url: String,
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary with `tokens` and waits for its "listening on" line.
fn start(tokens: &str) -> Fake {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-sms-provider"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--token", tokens])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start fake-sms-provider");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read the first line");
    // Keep reading (and dropping) its request log so that it never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let url = format!("http://127.0.0.1:{port}");
    assert_eq!(line.trim(), format!("fake-sms-provider listening on {url}"));
    Fake { child, url }
}

/// Sends a request and answers its status and JSON body.
async fn call(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

#[tokio::test]
async fn account_and_messages() {
    let fake = start("tok-one,tok-two");
    let http = reqwest::Client::new();
    let account = format!("{}/v1/account", fake.url);
    let messages = format!("{}/v1/messages", fake.url);

    let (status, body) = call(http.get(&account).bearer_auth("tok-two")).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"account": {"name": "Test Account", "phone": "+33100000000"}})
    );
    for request in [http.get(&account), http.get(&account).bearer_auth("wrong")] {
        let (status, body) = call(request).await;
        assert_eq!(status, 401);
        assert_eq!(body["error"]["code"], "invalid_token");
    }

    let message = json!({"from": "ACME", "to": "+33612345678", "text": "hi"});
    let (status, body) = call(http.post(&messages).bearer_auth("tok-one").json(&message)).await;
    assert_eq!(
        (status, body),
        (201, json!({"id": "msg_1", "status": "queued"}))
    );
    let (status, body) = call(http.post(&messages).bearer_auth("tok-one").json(&message)).await;
    assert_eq!((status, body["id"].clone()), (201, json!("msg_2")));

    let (status, body) = call(
        http.post(&messages)
            .bearer_auth("tok-one")
            .json(&json!({"from": "ACME", "text": "hi"})),
    )
    .await;
    assert_eq!(
        (status, body),
        (400, json!({"error": {"message": "to is required"}}))
    );
    let (status, _) = call(http.post(&messages).json(&message)).await;
    assert_eq!(status, 401);
}
