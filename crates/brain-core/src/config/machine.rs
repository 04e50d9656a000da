//! The name of this machine, as brain records it (`context/usage/<name>.md`, the
//! `Brain-Machine` trailer of every commit).

/// This machine's name in `context/usage/`: `BRAIN_MACHINE`, else the host name (its first
/// label, lower case, only letters, digits, `-` and `_`).
pub fn machine_name() -> String {
    let raw = std::env::var("BRAIN_MACHINE")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(host_name);
    let first = raw.trim().split('.').next().unwrap_or_default();
    let mut name: String = first
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    name = name.trim_matches('-').to_string();
    if name.is_empty() {
        "this-machine".into()
    } else {
        name
    }
}

#[cfg(unix)]
fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

#[cfg(windows)]
fn host_name() -> String {
    std::env::var("COMPUTERNAME").unwrap_or_default()
}
