//! The control socket's command handler: one line of the configuration
//! grammar in, a reply out. Changes go through the management core and are
//! answered after they are visible to workers (the coherence contract).

use super::{command_op, WorkerSnapshot};
use crate::config::{parse_line, Command};
use crate::ctl::{CtlHandler, CtlReply};
use crate::ip::addr_to_ip;
use crate::mgmt::{Event, MgmtHandle, Reply};
use std::sync::{Arc, Mutex};

/// The ports' counters as the report shows them, read when asked (software
/// queues or `rte_eth_stats`, depending on the backend).
pub type PortCountersFn = Arc<dyn Fn() -> Vec<crate::stats::PortCounters> + Send + Sync>;

/// What the handler reads besides the management core.
pub struct ControlState {
    pub mgmt: MgmtHandle,
    pub snapshots: Vec<Arc<Mutex<WorkerSnapshot>>>,
    pub port_counters: PortCountersFn,
    pub started: std::time::Instant,
}

/// Build the handler for [`crate::ctl::CtlServer::serve`].
pub fn handler(state: Arc<ControlState>) -> CtlHandler {
    Arc::new(move |line: &str| handle(&state, line))
}

fn handle(state: &ControlState, line: &str) -> CtlReply {
    // `--json` at the end of any command asks for a JSON reply; `stats` parses
    // it itself.
    let trimmed = line.trim_end();
    let (line, json) = match trimmed.strip_suffix("--json") {
        Some(rest) if !rest.trim_start().starts_with("stats") => (rest, true),
        _ => (trimmed, false),
    };
    let cmd = match parse_line(line) {
        Ok(Some(c)) => c,
        Ok(None) => return CtlReply::Ok(String::new()),
        Err(e) => return CtlReply::Err(e.to_string()),
    };
    match cmd {
        Command::Stats { json } => CtlReply::Ok(stats(state, json)),
        Command::Flows { lcore, .. } => {
            let mut out = String::new();
            for s in state
                .snapshots
                .iter()
                .filter_map(|s| s.lock().ok().map(|g| g.clone()))
            {
                if lcore.is_none_or(|l| l as usize == s.lcore) {
                    out.push_str(&format!(
                        "lcore {}: {} flows cached, {} lookups, {} hits, {} misses, {} evictions\n",
                        s.lcore,
                        s.cache_len,
                        s.cache.lookups,
                        s.cache.hits,
                        s.cache.misses,
                        s.cache.evictions
                    ));
                }
            }
            CtlReply::Ok(out)
        }
        Command::Monitor => match state.mgmt.monitor() {
            Ok(rx) => {
                let (tx, lines) = crossbeam_channel::bounded(1024);
                std::thread::spawn(move || {
                    for ev in rx.iter() {
                        if tx.send(event_line(&ev)).is_err() {
                            break;
                        }
                    }
                });
                CtlReply::Stream(lines)
            }
            Err(e) => CtlReply::Err(e.to_string()),
        },
        other => {
            let text = other.to_string();
            let Some(op) = command_op(other) else {
                return CtlReply::Err(format!("'{text}' is not supported on the control socket"));
            };
            match state.mgmt.call(op) {
                Ok(r) if json => CtlReply::Ok(reply_json(&r).to_string()),
                Ok(r) => CtlReply::Ok(reply_text(&r)),
                Err(e) => CtlReply::Err(e.to_string()),
            }
        }
    }
}

fn stats(state: &ControlState, json: bool) -> String {
    let snaps: Vec<WorkerSnapshot> = state
        .snapshots
        .iter()
        .filter_map(|s| s.lock().ok().map(|g| g.clone()))
        .collect();
    let m = match state.mgmt.call(crate::mgmt::Op::Counters) {
        Ok(Reply::Counters(c)) => c,
        _ => Default::default(),
    };
    let sas = super::sa_counters_of(&state.mgmt);
    let r = super::report_with_ports(
        &snaps,
        &m,
        state.started.elapsed(),
        (state.port_counters)(),
        sas,
    );
    if json {
        r.to_json()
    } else {
        crate::stats::summary(&r)
    }
}

fn reply_text(r: &Reply) -> String {
    match r {
        Reply::Done => String::new(),
        Reply::Count(n) => format!("{n}"),
        Reply::Policies(v) => v
            .iter()
            .map(|p| format!("{}\n", Command::PolicyAdd(p.spec.clone())))
            .collect(),
        Reply::Sas(v) => v
            .iter()
            .map(|s| {
                format!(
                    "src {} dst {} proto esp spi 0x{:08x} reqid {} mode {} packets {} bytes {} errors {} seq {}\n",
                    addr_to_ip(s.family, s.src),
                    addr_to_ip(s.family, s.dst),
                    s.spi,
                    s.reqid,
                    if s.mode == crate::spd::Mode::Tunnel { "tunnel" } else { "transport" },
                    s.packets,
                    s.bytes,
                    s.errors,
                    s.seq
                )
            })
            .collect(),
        Reply::Routes(v) => v.iter().map(|r| format!("{}\n", Command::RouteAdd(*r))).collect(),
        Reply::Neighbors(v) => v.iter().map(|n| format!("{}\n", Command::NeighAdd(*n))).collect(),
        Reply::Counters(c) => serde_json::to_string(c).unwrap_or_default(),
    }
}

fn reply_json(r: &Reply) -> serde_json::Value {
    use serde_json::json;
    match r {
        Reply::Done => json!({}),
        Reply::Count(n) => json!({ "count": n }),
        Reply::Policies(v) => json!(v
            .iter()
            .map(|p| json!({"index": p.index, "policy": Command::PolicyAdd(p.spec.clone()).to_string()}))
            .collect::<Vec<_>>()),
        Reply::Sas(v) => json!(v
            .iter()
            .map(|s| json!({
                "spi": s.spi,
                "src": addr_to_ip(s.family, s.src).to_string(),
                "dst": addr_to_ip(s.family, s.dst).to_string(),
                "mode": if s.mode == crate::spd::Mode::Tunnel { "tunnel" } else { "transport" },
                "reqid": s.reqid,
                "packets": s.packets,
                "bytes": s.bytes,
                "errors": s.errors,
                "seq": s.seq,
            }))
            .collect::<Vec<_>>()),
        Reply::Routes(v) => json!(v.iter().map(|r| Command::RouteAdd(*r).to_string()).collect::<Vec<_>>()),
        Reply::Neighbors(v) => json!(v.iter().map(|n| Command::NeighAdd(*n).to_string()).collect::<Vec<_>>()),
        Reply::Counters(c) => serde_json::to_value(c).unwrap_or_default(),
    }
}

fn event_line(ev: &Event) -> String {
    match ev {
        Event::Acquire { key, template } => format!(
            "acquire src {} dst {} proto {} reqid {}",
            addr_to_ip(key.family, key.src),
            addr_to_ip(key.family, key.dst),
            key.proto,
            template.reqid
        ),
        Event::PolicyExpired { index, hard } => {
            format!(
                "expire policy index {index} {}",
                if *hard { "hard" } else { "soft" }
            )
        }
        Event::SaExpired {
            spi,
            dst,
            family,
            hard,
        } => format!(
            "expire state spi 0x{spi:08x} dst {} {}",
            addr_to_ip(*family, *dst),
            if *hard { "hard" } else { "soft" }
        ),
        Event::PolicyKilled { index } => format!("delete policy index {index}"),
        Event::SaKilled { spi, dst, family } => {
            format!(
                "delete state spi 0x{spi:08x} dst {}",
                addr_to_ip(*family, *dst)
            )
        }
    }
}
