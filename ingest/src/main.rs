use anyhow::Result;
use clap::Parser;

#[tokio::main]
async fn main() -> Result<()> {
    let config = ingest::Config::parse();
    platform::telemetry::init(config.log_format);
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    ingest::run(config, listener, platform::shutdown::signal()).await
}
