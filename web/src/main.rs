use anyhow::Result;
use clap::Parser;

#[tokio::main]
async fn main() -> Result<()> {
    let config = web::server::Config::parse();
    platform::telemetry::init(config.log_format);
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    web::server::run(config, listener, platform::shutdown::signal()).await
}
