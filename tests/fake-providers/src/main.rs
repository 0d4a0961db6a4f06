//! `fake-providers [PORT]`: serves every provider fake on 127.0.0.1 until stopped.

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::args()
        .nth(1)
        .map(|p| p.parse::<u16>())
        .transpose()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?
        .unwrap_or(0);
    let fakes = byok_fake_providers::FakeProviders::start(port).await?;
    println!("fake providers on http://{}", fakes.addr());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
