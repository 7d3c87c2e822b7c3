//! Test configs for the bundled samples, which are years old.

/// `config` with rules acting on events of any age: the bundled samples are years
/// old, and `[limits] max_event_age` (default 7d) keeps rules off old events. Tests of
/// that limit write their own config.
pub fn any_age(config: &str) -> String {
    match config.find("[limits]\n") {
        Some(i) => {
            let at = i + "[limits]\n".len();
            format!("{}max_event_age = \"0\"\n{}", &config[..at], &config[at..])
        }
        None => format!("{config}\n[limits]\nmax_event_age = \"0\"\n"),
    }
}
