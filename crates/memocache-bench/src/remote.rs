//! What the Redis rows read from the server itself: command counts from `INFO commandstats`
//! (server-wide, so the runner takes them before and after a row and reports the difference).

/// `calls` of command `name` (lower case, e.g. `get`) in the text of `INFO commandstats`;
/// 0 when the server has not run it yet (it then has no line).
///
/// ```
/// let info = "# Commandstats\r\ncmdstat_get:calls=1234,usec=900,usec_per_call=0.73,rejected_calls=0,failed_calls=0\r\n";
/// assert_eq!(memocache_bench::remote::command_calls(info, "get"), 1234);
/// assert_eq!(memocache_bench::remote::command_calls(info, "mget"), 0);
/// ```
pub fn command_calls(info: &str, name: &str) -> u64 {
    let prefix = format!("cmdstat_{name}:");
    info.lines()
        .filter_map(|l| l.trim().strip_prefix(prefix.as_str()))
        .flat_map(|fields| fields.split(','))
        .find_map(|f| f.strip_prefix("calls="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_calls_of_the_named_command_only() {
        let info = "# Commandstats\n\
            cmdstat_mget:calls=7,usec=10,usec_per_call=1.43,rejected_calls=0,failed_calls=0\n\
            cmdstat_get:calls=90681,usec=100,usec_per_call=0.00,rejected_calls=0,failed_calls=0\n\
            cmdstat_getex:calls=5,usec=1\n";
        assert_eq!(command_calls(info, "get"), 90_681);
        assert_eq!(command_calls(info, "mget"), 7);
        assert_eq!(command_calls(info, "getex"), 5);
        assert_eq!(command_calls(info, "set"), 0);
        assert_eq!(command_calls("", "get"), 0);
    }
}
