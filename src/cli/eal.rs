//! EAL (DPDK Environment Abstraction Layer) options: the part of the command
//! line before `--`. Parsed by hand, DPDK style; every option is kept raw in
//! order for `rte_eal_init`, and the few that matter without DPDK (lcores,
//! virtual devices, the file prefix) are also decoded.

use std::fmt;

use super::{CliError, Cursor};

/// Largest lcore id accepted (DPDK's RTE_MAX_LCORE ceiling).
pub const MAX_LCORE: u32 = 1023;

/// A set of lcore ids from DPDK corelist syntax (`0-3`, `0,2,4`, `1-2,4`),
/// sorted ascending, without duplicates, never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LcoreList(Vec<u32>);

impl LcoreList {
    /// Parse DPDK corelist syntax. `opt` names the option in errors.
    pub fn parse(opt: &str, s: &str) -> Result<LcoreList, CliError> {
        let bad = |why: String| CliError::InvalidValue {
            opt: opt.to_string(),
            value: s.to_string(),
            expected: why,
        };
        let syntax = || bad("expected a core list such as 0-3, 0,2,4 or 1-2,4".into());
        let num = |t: &str| -> Result<u32, CliError> {
            let t = t.trim();
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(syntax());
            }
            match t.parse::<u32>() {
                Ok(n) if n <= MAX_LCORE => Ok(n),
                _ => Err(bad(format!("lcore {t} is out of range (0-{MAX_LCORE})"))),
            }
        };
        let mut ids = Vec::new();
        for part in s.split(',') {
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (num(a)?, num(b)?);
                    if a > b {
                        return Err(bad(format!("range {a}-{b} is reversed")));
                    }
                    ids.extend(a..=b);
                }
                None => ids.push(num(part)?),
            }
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(LcoreList(ids))
    }

    /// From a hexadecimal coremask (`-c 0xf`).
    pub fn from_coremask(opt: &str, s: &str) -> Result<LcoreList, CliError> {
        let mask = parse_hex_mask(opt, s, "a non-zero hexadecimal core mask such as 0xf")?;
        Ok(LcoreList(
            (0..64).filter(|i| mask & (1u64 << i) != 0).collect(),
        ))
    }

    /// The ids, ascending.
    pub fn ids(&self) -> &[u32] {
        &self.0
    }

    /// Whether `id` is in the list.
    pub fn contains(&self, id: u32) -> bool {
        self.0.binary_search(&id).is_ok()
    }
}

impl fmt::Display for LcoreList {
    /// Compact corelist syntax (`0-3,5`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut i = 0;
        let mut first = true;
        while i < self.0.len() {
            let start = self.0[i];
            let mut end = start;
            while i + 1 < self.0.len() && self.0[i + 1] == end + 1 {
                i += 1;
                end += 1;
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if start == end {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}-{end}")?;
            }
            i += 1;
        }
        Ok(())
    }
}

/// Parse a hexadecimal mask (`0x3`, `3`, `FF`), non-zero, at most 64 bits.
pub(crate) fn parse_hex_mask(opt: &str, s: &str, expected: &str) -> Result<u64, CliError> {
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    match u64::from_str_radix(digits, 16) {
        Ok(m) if m != 0 && !digits.starts_with('+') => Ok(m),
        _ => Err(CliError::InvalidValue {
            opt: opt.to_string(),
            value: s.to_string(),
            expected: format!("expected {expected}"),
        }),
    }
}

/// Which lcore does what.
///
/// The first lcore of the list (or `--main-lcore`) is the management core;
/// the others are workers, one per core. With a single lcore, xfgate still
/// runs: one worker shares that CPU with the management core
/// (`mgmt_shares_cpu`), which is fine for functional runs and tests but not
/// for throughput.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LcoreLayout {
    /// The management core's lcore.
    pub mgmt: u32,
    /// Worker lcores, ascending.
    pub workers: Vec<u32>,
    /// True when the only worker runs on the management core's CPU.
    pub mgmt_shares_cpu: bool,
}

impl LcoreLayout {
    /// Resolve from `-l`/`-c` (None: every CPU `0..cpus`, as DPDK does) and
    /// `--main-lcore`. Lcores must exist: `< cpus`.
    pub fn resolve(
        lcores: Option<&LcoreList>,
        main: Option<u32>,
        cpus: usize,
    ) -> Result<LcoreLayout, CliError> {
        let cpus = cpus.max(1);
        let all = LcoreList((0..cpus as u32).collect());
        let list = lcores.unwrap_or(&all);
        if let Some(&bad) = list.ids().iter().find(|&&id| id as usize >= cpus) {
            return Err(CliError::Conflict(format!(
                "lcore {bad} does not exist: this machine has {cpus} CPU{} (0-{})",
                if cpus == 1 { "" } else { "s" },
                cpus - 1
            )));
        }
        let mgmt = match main {
            Some(m) if !list.contains(m) => {
                return Err(CliError::Conflict(format!(
                    "--main-lcore {m} is not in the lcore list {list}"
                )))
            }
            Some(m) => m,
            None => list.ids()[0],
        };
        let workers: Vec<u32> = list.ids().iter().copied().filter(|&i| i != mgmt).collect();
        Ok(if workers.is_empty() {
            LcoreLayout {
                mgmt,
                workers: vec![mgmt],
                mgmt_shares_cpu: true,
            }
        } else {
            LcoreLayout {
                mgmt,
                workers,
                mgmt_shares_cpu: false,
            }
        })
    }
}

/// The EAL part of the command line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EalArgs {
    /// `xfgate` followed by every EAL option as given, for `rte_eal_init`.
    pub argv: Vec<String>,
    /// `-l`/`--lcores` or `-c` (None: all CPUs).
    pub lcores: Option<LcoreList>,
    /// `--main-lcore` (None: the first lcore).
    pub main_lcore: Option<u32>,
    /// `--vdev` strings, raw, in order (port ids follow this order).
    pub vdevs: Vec<String>,
    /// `-a`/`--allow` PCI addresses, raw, in order.
    pub allow: Vec<String>,
    /// `--file-prefix` (also names the default control socket).
    pub file_prefix: Option<String>,
    /// Names of the given options that mean nothing without DPDK, first
    /// occurrence order, without duplicates (e.g. `-n`, `--socket-mem`).
    pub ignored: Vec<String>,
}

impl EalArgs {
    /// The one-line notice for a build without DPDK, if any option is ignored.
    pub fn ignored_notice(&self) -> Option<String> {
        (!self.ignored.is_empty()).then(|| {
            format!(
                "xfgate: built without DPDK: ignoring EAL option{} {}",
                if self.ignored.len() == 1 { "" } else { "s" },
                self.ignored.join(" ")
            )
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Arg {
    /// No value.
    Flag,
    /// A required value.
    Value,
    /// A value only in the `--opt=value` form.
    Optional,
}

/// (short, long, argument kind). Options xfgate decodes are handled apart.
const IGNORED: &[(Option<char>, &str, Arg)] = &[
    (Some('a'), "allow", Arg::Value),
    (Some('b'), "block", Arg::Value),
    (Some('w'), "pci-whitelist", Arg::Value),
    (None, "pci-blacklist", Arg::Value),
    (Some('n'), "", Arg::Value),
    (Some('r'), "", Arg::Value),
    (Some('m'), "", Arg::Value),
    (Some('d'), "driver-path", Arg::Value),
    (Some('s'), "service-corelist", Arg::Value),
    (Some('S'), "service-coremask", Arg::Value),
    (Some('v'), "", Arg::Flag),
    (None, "socket-mem", Arg::Value),
    (None, "socket-limit", Arg::Value),
    (None, "huge-dir", Arg::Value),
    (None, "log-level", Arg::Value),
    (None, "proc-type", Arg::Value),
    (None, "iova-mode", Arg::Value),
    (None, "base-virtaddr", Arg::Value),
    (None, "vfio-intr", Arg::Value),
    (None, "vfio-vf-token", Arg::Value),
    (None, "mbuf-pool-ops-name", Arg::Value),
    (None, "force-max-simd-bitwidth", Arg::Value),
    (None, "trace", Arg::Value),
    (None, "trace-dir", Arg::Value),
    (None, "trace-bufsz", Arg::Value),
    (None, "trace-mode", Arg::Value),
    (None, "syslog", Arg::Optional),
    (None, "huge-unlink", Arg::Optional),
    (None, "huge-worker-stack", Arg::Optional),
    (None, "no-pci", Arg::Flag),
    (None, "in-memory", Arg::Flag),
    (None, "no-huge", Arg::Flag),
    (None, "no-telemetry", Arg::Flag),
    (None, "telemetry", Arg::Flag),
    (None, "no-shconf", Arg::Flag),
    (None, "no-hpet", Arg::Flag),
    (None, "legacy-mem", Arg::Flag),
    (None, "single-file-segments", Arg::Flag),
    (None, "match-allocations", Arg::Flag),
    (None, "create-uio-dev", Arg::Flag),
    (None, "vmware-tsc-map", Arg::Flag),
];

/// Parse EAL options until `--` or the end of `c`.
pub(crate) fn parse_eal(c: &mut Cursor) -> Result<EalArgs, CliError> {
    let mut e = EalArgs {
        argv: vec!["xfgate".to_string()],
        ..EalArgs::default()
    };
    let mut core_opt: Option<String> = None;
    while let Some(arg) = c.peek() {
        if arg == "--" {
            break;
        }
        let arg = c.next_arg().unwrap_or_default();
        let start = e.argv.len();
        e.argv.push(arg.clone());
        let (name, inline) =
            split_option(&arg).ok_or_else(|| CliError::UnexpectedArgument(arg.clone()))?;
        // Options decoded here.
        let value = |c: &mut Cursor, e: &mut EalArgs| -> Result<String, CliError> {
            let v = match &inline {
                Some(v) => v.clone(),
                None => {
                    let v = c.value_for(&name)?;
                    e.argv.push(v.clone());
                    v
                }
            };
            Ok(v)
        };
        match name.as_str() {
            "-l" | "--lcores" | "-c" => {
                let v = value(c, &mut e)?;
                if let Some(prev) = &core_opt {
                    if prev != &name {
                        return Err(CliError::Conflict(format!(
                            "options {prev} and {name} both select lcores: give one"
                        )));
                    }
                }
                e.lcores = Some(if name == "-c" {
                    LcoreList::from_coremask(&name, &v)?
                } else {
                    LcoreList::parse(&name, &v)?
                });
                core_opt = Some(name);
            }
            "--main-lcore" | "--master-lcore" => {
                let v = value(c, &mut e)?;
                match v.parse::<u32>() {
                    Ok(n) if n <= MAX_LCORE => e.main_lcore = Some(n),
                    _ => {
                        return Err(CliError::InvalidValue {
                            opt: name,
                            value: v,
                            expected: format!("expected an lcore id (0-{MAX_LCORE})"),
                        })
                    }
                }
            }
            "--vdev" => {
                let v = value(c, &mut e)?;
                if v.is_empty() {
                    return Err(CliError::InvalidValue {
                        opt: name,
                        value: v,
                        expected: "expected a device string such as net_null0".into(),
                    });
                }
                e.vdevs.push(v);
            }
            "--file-prefix" => {
                let v = value(c, &mut e)?;
                if v.is_empty() || v.contains('/') || v.contains('\0') {
                    return Err(CliError::InvalidValue {
                        opt: name,
                        value: v,
                        expected: "expected a non-empty name without '/'".into(),
                    });
                }
                e.file_prefix = Some(v);
            }
            "-h" | "--help" | "--version" => {
                // Handled by the caller before EAL parsing; never reached.
                return Err(CliError::UnexpectedArgument(arg));
            }
            _ => {
                let spec = IGNORED.iter().find(|(s, l, _)| {
                    if let Some(long) = name.strip_prefix("--") {
                        !l.is_empty() && *l == long
                    } else {
                        name.len() == 2 && Some(name.as_bytes()[1] as char) == *s
                    }
                });
                let Some(&(_, _, kind)) = spec else {
                    return Err(if super::is_app_option(&name) {
                        CliError::AppOptionBeforeDashDash(name)
                    } else {
                        CliError::UnknownEalOption(name)
                    });
                };
                match (kind, &inline) {
                    (Arg::Flag, Some(_)) => return Err(CliError::UnexpectedValue(name)),
                    (Arg::Value, None) => {
                        let v = c.value_for(&name)?;
                        e.argv.push(v);
                    }
                    _ => {}
                }
                if name == "-a" || name == "--allow" {
                    let v = inline.clone().unwrap_or_else(|| e.argv[start + 1].clone());
                    e.allow.push(v);
                }
                if !e.ignored.contains(&name) {
                    e.ignored.push(name);
                }
            }
        }
    }
    Ok(e)
}

/// Split `--name=value`, `--name`, `-xVALUE` and `-x` into the option name and
/// an inline value. None for a non-option.
pub(crate) fn split_option(arg: &str) -> Option<(String, Option<String>)> {
    if let Some(long) = arg.strip_prefix("--") {
        if long.is_empty() {
            return None;
        }
        return Some(match long.split_once('=') {
            Some((n, v)) => (format!("--{n}"), Some(v.to_string())),
            None => (arg.to_string(), None),
        });
    }
    let rest = arg.strip_prefix('-')?;
    let mut chars = rest.chars();
    let first = chars.next()?;
    let tail = chars.as_str();
    Some((
        format!("-{first}"),
        (!tail.is_empty()).then(|| tail.to_string()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corelists() {
        let p = |s| LcoreList::parse("-l", s).map(|l| l.ids().to_vec());
        assert_eq!(p("0-3").unwrap(), [0, 1, 2, 3]);
        assert_eq!(p("0,2,4").unwrap(), [0, 2, 4]);
        assert_eq!(p("1-2,4").unwrap(), [1, 2, 4]);
        assert_eq!(p("4,1-2,2").unwrap(), [1, 2, 4]);
        assert_eq!(p("7").unwrap(), [7]);
        for bad in ["", "a", "1-", "-1", "1,,2", "1-2-3", "+1", "0x1", "1 2"] {
            let e = p(bad).unwrap_err().to_string();
            assert_eq!(
                e,
                format!(
                    "invalid -l value '{bad}': expected a core list such as 0-3, 0,2,4 or 1-2,4"
                )
            );
        }
        assert_eq!(
            p("3-1").unwrap_err().to_string(),
            "invalid -l value '3-1': range 3-1 is reversed"
        );
        assert_eq!(
            p("0-5000").unwrap_err().to_string(),
            "invalid -l value '0-5000': lcore 5000 is out of range (0-1023)"
        );
        assert_eq!(
            LcoreList::parse("-l", "0-3,5,7-8").unwrap().to_string(),
            "0-3,5,7-8"
        );
        assert_eq!(
            LcoreList::from_coremask("-c", "0x15").unwrap().ids(),
            [0, 2, 4]
        );
        assert!(LcoreList::from_coremask("-c", "0").is_err());
        assert!(LcoreList::from_coremask("-c", "xyz").is_err());
    }

    #[test]
    fn layouts() {
        let l = |s| LcoreList::parse("-l", s).unwrap();
        assert_eq!(
            LcoreLayout::resolve(Some(&l("0-3")), None, 4).unwrap(),
            LcoreLayout {
                mgmt: 0,
                workers: vec![1, 2, 3],
                mgmt_shares_cpu: false
            }
        );
        assert_eq!(
            LcoreLayout::resolve(Some(&l("1")), None, 2).unwrap(),
            LcoreLayout {
                mgmt: 1,
                workers: vec![1],
                mgmt_shares_cpu: true
            }
        );
        assert_eq!(
            LcoreLayout::resolve(Some(&l("0-2")), Some(2), 4).unwrap(),
            LcoreLayout {
                mgmt: 2,
                workers: vec![0, 1],
                mgmt_shares_cpu: false
            }
        );
        assert_eq!(
            LcoreLayout::resolve(None, None, 2).unwrap().workers,
            vec![1]
        );
        assert!(LcoreLayout::resolve(None, None, 1).unwrap().mgmt_shares_cpu);
        assert_eq!(
            LcoreLayout::resolve(Some(&l("0-3")), None, 2)
                .unwrap_err()
                .to_string(),
            "lcore 2 does not exist: this machine has 2 CPUs (0-1)"
        );
        assert_eq!(
            LcoreLayout::resolve(Some(&l("0-1")), Some(3), 4)
                .unwrap_err()
                .to_string(),
            "--main-lcore 3 is not in the lcore list 0-1"
        );
    }

    #[test]
    fn option_splitting() {
        assert_eq!(
            split_option("-l0-3"),
            Some(("-l".into(), Some("0-3".into())))
        );
        assert_eq!(split_option("-l"), Some(("-l".into(), None)));
        assert_eq!(
            split_option("--vdev=net_null0,a=b"),
            Some(("--vdev".into(), Some("net_null0,a=b".into())))
        );
        assert_eq!(split_option("--no-pci"), Some(("--no-pci".into(), None)));
        assert_eq!(split_option("foo"), None);
        assert_eq!(split_option("-"), None);
        assert_eq!(split_option("--"), None);
    }
}
