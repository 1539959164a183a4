use anyhow::Result;
use clap::Parser;

#[tokio::main]
async fn main() -> Result<()> {
    let config = stream_stats::Config::parse();
    platform::telemetry::init(config.log_format);
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    stream_stats::run(config, listener, platform::shutdown::signal()).await
}
