mod common;
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold() {
    let backends = common::Backends::start().await;
    let api = backends.replica().await;
    let admin = api.client().admin().await;
    std::fs::write("/tmp/hold.env", format!("ADDR={}\nTOKEN={}\n", api.addr, admin.token.clone().unwrap())).unwrap();
    let a2 = api.client().admin().await;
    std::fs::write("/tmp/hold2.env", format!("TOKEN2={}\n", a2.token.clone().unwrap())).unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(3000)).await;
}
