//! Shared helpers for the engine tests: a small random universe of keys,
//! policies, SAs and routes, so that random operations collide often.
#![allow(dead_code)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use xfgate::flow::FlowKey;
use xfgate::ip::{Dir, Family, Prefix};
use xfgate::mgmt::Op;
use xfgate::route::{NeighSpec, RouteSpec};
use xfgate::sad::{AeadAlg, SaLifetime, SaSpec};
use xfgate::spd::{
    Action, Level, Mode, PolicyId, PolicyLifetime, PolicySpec, PolicyType, PortRange, Selector,
    Template,
};

pub const V4_BASE: u128 = 0x0a00_0000; // 10.0.0.0
pub const V6_BASE: u128 = 0x2001_0db8_0000_0000_0000_0000_0000_0000;

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

fn base(f: Family) -> u128 {
    match f {
        Family::V4 => V4_BASE,
        Family::V6 => V6_BASE,
    }
}

/// A key from a small space: 8 sources, 8 destinations, 3 protocols, few ports.
pub fn key(r: &mut StdRng) -> FlowKey {
    let family = if r.gen_bool(0.75) {
        Family::V4
    } else {
        Family::V6
    };
    let dir = if r.gen_bool(0.6) { Dir::Out } else { Dir::In };
    let proto = [6u8, 17, 1][r.gen_range(0..3)];
    let (sport, dport) = if proto == 1 {
        (r.gen_range(0..2) * 8, 0)
    } else {
        (
            [1000u16, 1001, 2000][r.gen_range(0..3)],
            [53u16, 80, 443][r.gen_range(0..3)],
        )
    };
    let mut k = FlowKey::new(
        family,
        dir,
        base(family) + r.gen_range(0..8u128),
        base(family) + 0x100 + r.gen_range(0..8u128),
        proto,
        sport,
        dport,
        r.gen_range(0..2),
    );
    if r.gen_ratio(1, 20) {
        k.flags |= xfgate::flow::key::FLOW_FRAGMENT;
        k.sport = 0;
        k.dport = 0;
    }
    k
}

fn prefix(r: &mut StdRng, f: Family, off: u128) -> Prefix {
    let bits = f.bits();
    let len = match r.gen_range(0..4) {
        0 => 0,
        1 => bits - 2,
        2 => bits - 1,
        _ => bits,
    };
    Prefix::new(f, base(f) + off + r.gen_range(0..8u128), len)
}

pub fn selector(r: &mut StdRng) -> Selector {
    let family = if r.gen_bool(0.75) {
        Family::V4
    } else {
        Family::V6
    };
    let mut s = Selector::any(family);
    s.src = prefix(r, family, 0);
    s.dst = prefix(r, family, 0x100);
    match r.gen_range(0..4) {
        0 => {}
        1 => s.proto = 17,
        2 => {
            s.proto = 6;
            s.dport = [PortRange::single(80), PortRange { lo: 50, hi: 100 }][r.gen_range(0..2)];
        }
        _ => {
            s.proto = 1;
            s.sport = PortRange::single(8);
        }
    }
    if r.gen_ratio(1, 8) {
        s.ingress = Some(r.gen_range(0..2));
    }
    s
}

pub fn sa_spec(r: &mut StdRng) -> SaSpec {
    let family = if r.gen_bool(0.75) {
        Family::V4
    } else {
        Family::V6
    };
    SaSpec {
        spi: 0x100 + r.gen_range(0..12),
        mode: if r.gen_bool(0.7) {
            Mode::Tunnel
        } else {
            Mode::Transport
        },
        family,
        src: base(family) + 0x200,
        dst: base(family) + 0x300 + r.gen_range(0..2u128),
        reqid: r.gen_range(0..3),
        alg: AeadAlg::Aes128Gcm,
        key: vec![7; 16],
        salt: [1, 2, 3, 4],
        replay_window: 64,
        esn: false,
        lifetime: SaLifetime::default(),
    }
}

pub fn template(r: &mut StdRng) -> Template {
    let family = if r.gen_bool(0.75) {
        Family::V4
    } else {
        Family::V6
    };
    let mode = if r.gen_bool(0.7) {
        Mode::Tunnel
    } else {
        Mode::Transport
    };
    Template {
        proto: 50,
        mode,
        family,
        src: (mode == Mode::Tunnel && r.gen_bool(0.5)).then(|| base(family) + 0x200),
        dst: (mode == Mode::Tunnel).then(|| base(family) + 0x300 + r.gen_range(0..2u128)),
        reqid: r.gen_range(0..3),
        spi: r.gen_ratio(1, 4).then(|| 0x100 + r.gen_range(0..12)),
        level: if r.gen_ratio(1, 5) {
            Level::Use
        } else {
            Level::Required
        },
    }
}

pub fn policy_spec(r: &mut StdRng) -> PolicySpec {
    let selector = selector(r);
    let ntmpl = r.gen_range(0..3);
    PolicySpec {
        selector,
        dir: [Dir::Out, Dir::In, Dir::Fwd][r.gen_range(0..3)],
        ptype: if r.gen_ratio(1, 5) {
            PolicyType::Sub
        } else {
            PolicyType::Main
        },
        priority: r.gen_range(0..3),
        action: if r.gen_ratio(1, 5) {
            Action::Block
        } else {
            Action::Allow
        },
        templates: (0..ntmpl).map(|_| template(r)).collect(),
        lifetime: PolicyLifetime::default(),
        index: None,
    }
}

pub fn route(r: &mut StdRng) -> RouteSpec {
    let family = if r.gen_bool(0.6) {
        Family::V4
    } else {
        Family::V6
    };
    let bits = family.bits();
    RouteSpec {
        prefix: Prefix::new(
            family,
            base(family) + r.gen_range(0..0x400u128),
            [0, bits - 8, bits - 4, bits][r.gen_range(0..4)],
        ),
        port: r.gen_range(0..3),
        next_hop: r.gen_bool(0.3).then(|| base(family) + 0x500),
    }
}

/// A random change. `indexes` are policy indexes known to exist (or to have existed).
pub fn op(r: &mut StdRng, indexes: &[u32]) -> Op {
    match r.gen_range(0..100) {
        0..=34 => Op::PolicyAdd(policy_spec(r)),
        35..=44 => Op::PolicyUpdate(policy_spec(r)),
        45..=59 if !indexes.is_empty() => {
            Op::PolicyDelete(PolicyId::Index(indexes[r.gen_range(0..indexes.len())]))
        }
        60..=64 if !indexes.is_empty() => Op::ExpirePolicy {
            index: indexes[r.gen_range(0..indexes.len())],
            hard: r.gen_bool(0.7),
        },
        65..=76 => Op::SaAdd(sa_spec(r)),
        77..=80 => Op::SaUpdate(sa_spec(r)),
        81..=86 => {
            let s = sa_spec(r);
            Op::SaDelete {
                spi: s.spi,
                dst: s.dst,
                family: s.family,
            }
        }
        87..=91 => Op::RouteAdd(route(r)),
        92 => Op::RouteDel(route(r).prefix),
        93 => Op::NeighAdd(NeighSpec {
            port: r.gen_range(0..3),
            addr: None,
            mac: [2, 0, 0, 0, 0, r.gen()],
        }),
        94 => Op::SetDefault(
            [Dir::Out, Dir::In, Dir::Fwd][r.gen_range(0..3)],
            if r.gen_bool(0.5) {
                Action::Allow
            } else {
                Action::Block
            },
        ),
        95 => Op::PolicyFlush {
            dir: r.gen_bool(0.5).then_some(Dir::Out),
            ptype: None,
        },
        96 => Op::SaFlush,
        _ => Op::Batch(
            (0..r.gen_range(1..6))
                .map(|_| Op::PolicyAdd(policy_spec(r)))
                .collect(),
        ),
    }
}

/// Routes so that most lookups find one.
pub fn base_routes() -> Vec<Op> {
    vec![
        Op::RouteAdd(RouteSpec {
            prefix: Prefix::any(Family::V4),
            port: 0,
            next_hop: None,
        }),
        Op::RouteAdd(RouteSpec {
            prefix: Prefix::any(Family::V6),
            port: 1,
            next_hop: None,
        }),
    ]
}
