//! The HTTP server (tiny_http, one thread, no async runtime) on 127.0.0.1:PORT inside the run's
//! private namespace. Every request is answered, bad ones with a 4xx status and a one-line
//! reason; nothing a client sends can stop the run.
//!
//! | path | answer |
//! |---|---|
//! | `/netstat` | `netstat -tan` lines |
//! | `/ss` | `ss -tni` entries, one line each |
//! | `/tcpinfo?fd=N` | the full tcp_info of script fd N (JSON) |
//! | `/pollinghang?time=MS` | stops polling a userspace stack for MS ms; answered when it begins |
//!
//! `?format=json` turns `/netstat` and `/ss` into JSON.

use std::sync::Arc;
use std::thread::JoinHandle;

use tiny_http::{Header, Request, Response, Server};

use super::render;
use super::{live_fd_of, Refusal, ScriptFds, StackView};

/// The running server; stopped when dropped.
pub struct HttpServer {
    server: Arc<Server>,
    thread: Option<JoinHandle<()>>,
    /// The address it listens on.
    pub port: u16,
}

impl HttpServer {
    /// Listens on 127.0.0.1:`port` (of the current network namespace) and answers from `view`
    /// (a script fd is looked up in `fds`).
    pub fn start(port: u16, view: Arc<dyn StackView>, fds: ScriptFds) -> Result<Self, String> {
        let server = Server::http(("127.0.0.1", port))
            .map_err(|e| format!("cannot serve HTTP on 127.0.0.1:{port}: {e}"))?;
        let server = Arc::new(server);
        let serving = server.clone();
        let thread = std::thread::Builder::new()
            .name("http".into())
            .spawn(move || {
                for request in serving.incoming_requests() {
                    answer(request, view.as_ref(), &fds);
                }
            })
            .map_err(|e| format!("cannot start the HTTP thread: {e}"))?;
        Ok(HttpServer {
            server,
            thread: Some(thread),
            port,
        })
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The query parameter `name`, if present.
fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// What a request gets: status, content type, body.
struct Reply {
    status: u16,
    json: bool,
    body: String,
}

impl Reply {
    fn text(body: String) -> Self {
        Reply {
            status: 200,
            json: false,
            body,
        }
    }

    fn json(body: String) -> Self {
        Reply {
            status: 200,
            json: true,
            body,
        }
    }

    fn refused(refusal: Refusal) -> Self {
        Reply {
            status: refusal.status(),
            json: false,
            body: format!("{}\n", refusal.reason()),
        }
    }
}

fn answer(request: Request, view: &dyn StackView, fds: &ScriptFds) {
    let url = request.url().to_string();
    let reply = match route(&url, view, fds) {
        Ok(reply) => reply,
        Err(refusal) => Reply::refused(refusal),
    };
    let content_type = if reply.json {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    let mut response = Response::from_string(reply.body).with_status_code(reply.status);
    if let Ok(header) = Header::from_bytes("Content-Type", content_type) {
        response = response.with_header(header);
    }
    // A client that went away is its own problem.
    let _ = request.respond(response);
}

fn route(url: &str, view: &dyn StackView, fds: &ScriptFds) -> Result<Reply, Refusal> {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let json = match query_param(query, "format") {
        None | Some("text") => false,
        Some("json") => true,
        Some(other) => {
            return Err(Refusal::BadRequest(format!(
                "format={other}: expected text or json"
            )))
        }
    };
    match path {
        "/netstat" | "/ss" => {
            let sockets = view.sockets()?;
            Ok(match (path, json) {
                (_, true) => Reply::json(render::sockets_json(&sockets)),
                ("/netstat", false) => Reply::text(render::netstat(&sockets)),
                _ => Reply::text(render::ss(&sockets)),
            })
        }
        "/tcpinfo" => {
            let fd = query_param(query, "fd")
                .ok_or_else(|| Refusal::BadRequest("/tcpinfo needs ?fd=N (a script fd)".into()))?;
            let fd: i64 = fd.parse().map_err(|_| {
                Refusal::BadRequest(format!("fd={fd}: expected a script fd number"))
            })?;
            let fields = view.socket_info(live_fd_of(fds, fd)?)?;
            Ok(Reply::json(render::tcp_info_json(&fields)))
        }
        "/pollinghang" => {
            let time = query_param(query, "time").ok_or_else(|| {
                Refusal::BadRequest("/pollinghang needs ?time=MS (milliseconds)".into())
            })?;
            let millis: u64 = time.parse().map_err(|_| {
                Refusal::BadRequest(format!("time={time}: expected milliseconds (0 or more)"))
            })?;
            view.polling_hang(millis)?;
            Ok(Reply::text(format!("polling stopped for {millis} ms\n")))
        }
        _ => Err(Refusal::NotFound(format!(
            "{path}: unknown path (try /netstat, /ss, /tcpinfo?fd=N, /pollinghang?time=MS)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::introspect::SocketRecord;

    struct FixedView;

    impl StackView for FixedView {
        fn sockets(&self) -> Result<Vec<SocketRecord>, Refusal> {
            Ok(vec![])
        }
        fn socket_info(&self, live_fd: i32) -> Result<Vec<(String, i64)>, Refusal> {
            match live_fd {
                7 => Ok(vec![("tcpi_state".to_string(), 1)]),
                _ => Err(Refusal::Failed(format!("fd {live_fd} is gone"))),
            }
        }
        fn polling_hang(&self, _millis: u64) -> Result<(), Refusal> {
            Err(Refusal::BadRequest(
                "the kernel has no polling to hang".into(),
            ))
        }
    }

    fn status(url: &str) -> (u16, String) {
        let fds = ScriptFds::default();
        fds.lock().unwrap().push((3, 7));
        match route(url, &FixedView, &fds) {
            Ok(reply) => (reply.status, reply.body),
            Err(refusal) => (refusal.status(), refusal.reason().to_string()),
        }
    }

    #[test]
    fn bad_requests_get_4xx_and_a_reason() {
        assert_eq!(status("/nothing").0, 404);
        assert_eq!(
            status("/tcpinfo?fd=abc"),
            (400, "fd=abc: expected a script fd number".to_string())
        );
        assert_eq!(status("/tcpinfo").0, 400);
        assert_eq!(status("/tcpinfo?fd=9").0, 400);
        assert_eq!(
            status("/pollinghang?time=-5"),
            (
                400,
                "time=-5: expected milliseconds (0 or more)".to_string()
            )
        );
        assert_eq!(status("/ss?format=xml").0, 400);
    }

    #[test]
    fn good_requests_are_answered() {
        assert_eq!(status("/netstat").0, 200);
        assert_eq!(status("/ss?format=json"), (200, "[]\n".to_string()));
        let (code, body) = status("/tcpinfo?fd=3");
        assert_eq!(code, 200);
        assert!(body.contains("\"tcpi_state\": 1"), "{body}");
    }
}
