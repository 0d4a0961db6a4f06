//! The BYOK Worker: every route of the API over D1 and KV.

use worker::{event, Context, Env, Request, Response, Result, Router};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    Router::new()
        .get("/healthz", |_, _| Response::ok("ok"))
        .run(req, env)
        .await
}
