//! Estimating memory before allocating it.
//!
//! A rank that allocates more than the node has is killed by the kernel's OOM killer, usually
//! taking the job down with an unhelpful message. spmdkit instead compares its own estimate with
//! the memory available to this rank and refuses the run, with the numbers, before allocating.

/// Memory this rank may use, in bytes, and where the figure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Bytes available to this rank.
    pub bytes: u64,
    /// How it was found, for messages.
    pub origin: &'static str,
}

/// The variable that sets the budget per rank explicitly (bytes, or with a K/M/G/T suffix).
pub const BUDGET_VAR: &str = "SPMDKIT_MEMORY_PER_RANK";

/// Parses a size into bytes: a number with an optional unit K, M, G, T or P, each also written
/// with `i`, `B` or `iB` (`512M`, `4Gi`, `4GiB`, `1.5T`), in powers of 1024, case ignored. At
/// most 2^63 bytes.
pub fn parse_bytes(text: &str) -> Option<u64> {
    let t = text.trim();
    let (number, unit) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((at, _)) => (&t[..at], &t[at..]),
        None => (t, ""),
    };
    let unit = unit.trim().to_ascii_uppercase();
    let unit = unit.strip_suffix('B').unwrap_or(&unit);
    let unit = unit.strip_suffix('I').unwrap_or(unit);
    let power = match unit {
        "" => 0,
        "K" => 1,
        "M" => 2,
        "G" => 3,
        "T" => 4,
        "P" => 5,
        _ => return None,
    };
    let value: f64 = number.trim().parse().ok()?;
    let bytes = value * 1024f64.powi(power);
    (bytes.is_finite() && (0.0..=9.223_372_036_854_776e18).contains(&bytes)).then_some(bytes as u64)
}

fn meminfo_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn cgroup_available() -> Option<u64> {
    let max = std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok()?;
    let max: u64 = max.trim().parse().ok()?; // "max" means no limit: None
    let current: u64 = std::fs::read_to_string("/sys/fs/cgroup/memory.current")
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(max.saturating_sub(current))
}

/// How many ranks share this node's memory, from the launcher's variables.
pub fn ranks_on_this_node(var: impl Fn(&str) -> Option<String>) -> u64 {
    [
        "OMPI_COMM_WORLD_LOCAL_SIZE",
        "MPI_LOCALNRANKS",
        "SLURM_NTASKS_PER_NODE",
    ]
    .iter()
    .find_map(|k| var(k).and_then(|v| v.trim().parse::<u64>().ok()))
    .filter(|&n| n > 0)
    .unwrap_or(1)
}

/// The memory this rank may use: [`BUDGET_VAR`] if set, else the node's available memory
/// (the smaller of `MemAvailable` and the cgroup's remaining limit) shared by its ranks.
///
/// # Errors
/// When [`BUDGET_VAR`] is set to something that is not a size.
pub fn budget() -> Result<Budget, String> {
    if let Ok(v) = std::env::var(BUDGET_VAR) {
        return parse_bytes(&v)
            .map(|bytes| Budget {
                bytes,
                origin: BUDGET_VAR,
            })
            .ok_or_else(|| {
                format!(
                    "{BUDGET_VAR} = '{}' is not a size: expected bytes, or a number with K, M, \
                     G, T or P (also Gi, GiB, ...: powers of 1024), such as 512M or 4Gi, at most \
                     8E",
                    v.escape_debug()
                )
            });
    }
    let node = match (meminfo_available(), cgroup_available()) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => u64::MAX,
    };
    let ranks = ranks_on_this_node(|k| std::env::var(k).ok());
    Ok(Budget {
        bytes: node / ranks,
        origin: if ranks > 1 {
            "available memory shared by this node's ranks"
        } else {
            "available memory"
        },
    })
}

/// Two sizes for people, exact in bytes where their rounded forms would look the same:
/// `7.6 MiB` and `1.0 GiB`, but `104857601 B` and `104857600 B`.
pub fn human_pair(a: u64, b: u64) -> (String, String) {
    let (ha, hb) = (human(a), human(b));
    if ha == hb && a != b {
        (format!("{a} B"), format!("{b} B"))
    } else {
        (ha, hb)
    }
}

/// Formats bytes for people: `7.6 MiB`.
pub fn human(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_bytes("512"), Some(512));
        assert_eq!(parse_bytes("4K"), Some(4096));
        assert_eq!(parse_bytes("1.5G"), Some(1_610_612_736));
        assert_eq!(parse_bytes("2GiB"), Some(2 * 1024 * 1024 * 1024));
        assert_eq!(parse_bytes("lots"), None);
        assert_eq!(parse_bytes("-1G"), None);
        assert_eq!(parse_bytes("4Gi"), Some(4 << 30));
        assert_eq!(parse_bytes("4gib"), Some(4 << 30));
        assert_eq!(parse_bytes("4 GB"), Some(4 << 30));
        assert_eq!(parse_bytes("100MiB"), Some(100 << 20));
        assert_eq!(parse_bytes("1e300G"), None);
        assert_eq!(parse_bytes("nan"), None);
        assert_eq!(parse_bytes("4X"), None);
        assert_eq!(parse_bytes("1P"), Some(1 << 50));
        assert_eq!(human(8_000_000), "7.6 MiB");
        let (a, b) = human_pair(100 << 20, (100 << 20) - 1);
        assert_eq!((a.as_str(), b.as_str()), ("104857600 B", "104857599 B"));
        assert_eq!(human_pair(1 << 30, 8 << 20).0, "1.0 GiB");
    }

    #[test]
    fn local_rank_count_comes_from_the_launcher() {
        let env = |k: &str| (k == "OMPI_COMM_WORLD_LOCAL_SIZE").then(|| "4".to_string());
        assert_eq!(ranks_on_this_node(env), 4);
        assert_eq!(ranks_on_this_node(|_| None), 1);
    }
}
