//! A small hand-written argument parser: the CLI must not add a dependency
//! to the crate. Options are `--flag`, `--option VALUE` or `--option=VALUE`;
//! each command lists the options it accepts, anything else is an error.
//! Only options declared repeatable may be given more than once.

/// How an option is written.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `--flag`, no value.
    Flag,
    /// `--option VALUE`.
    Value,
    /// `--option VALUE`, any number of times; the order is kept (the first
    /// `--dict` seals, like the first key).
    Repeated,
}

/// The options one command accepts.
pub struct Spec {
    pub command: &'static str,
    pub options: &'static [(&'static str, Kind)],
}

/// Parsed options of one command, in the order given.
pub struct Parsed {
    command: &'static str,
    given: Vec<(&'static str, Option<String>)>,
}

impl Spec {
    /// Parses `args` (everything after the command words). `--help` is
    /// handled by the caller before this runs.
    pub fn parse(&self, args: &[String]) -> Result<Parsed, String> {
        let mut given: Vec<(&'static str, Option<String>)> = Vec::new();
        let mut rest = args.iter();
        while let Some(arg) = rest.next() {
            let Some(body) = arg.strip_prefix("--") else {
                return Err(format!(
                    "unexpected argument {arg:?} for `{}`; see `sealed-session {} --help`",
                    self.command, self.command
                ));
            };
            let (name, inline) = match body.split_once('=') {
                Some((name, value)) => (name, Some(value.to_owned())),
                None => (body, None),
            };
            let Some(&(name, kind)) = self.options.iter().find(|(n, _)| *n == name) else {
                return Err(format!(
                    "unknown option --{name} for `{}`; see `sealed-session {} --help`",
                    self.command, self.command
                ));
            };
            if kind != Kind::Repeated && given.iter().any(|(n, _)| *n == name) {
                return Err(format!("option --{name} is given twice; give it once"));
            }
            let value = match (kind, inline) {
                (Kind::Flag, None) => None,
                (Kind::Flag, Some(_)) => {
                    return Err(format!("option --{name} takes no value"));
                }
                (Kind::Value | Kind::Repeated, Some(value)) => Some(value),
                (Kind::Value | Kind::Repeated, None) => match rest.next() {
                    Some(value) if !value.starts_with("--") => Some(value.clone()),
                    _ => return Err(format!("option --{name} needs a value")),
                },
            };
            given.push((name, value));
        }
        Ok(Parsed {
            command: self.command,
            given,
        })
    }
}

impl Parsed {
    /// True if the flag was given.
    pub fn flag(&self, name: &str) -> bool {
        self.given.iter().any(|(n, _)| *n == name)
    }

    /// The option's value, if given.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.given
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    /// Every value of a repeatable option, in the order given.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.given
            .iter()
            .filter(|(n, _)| *n == name)
            .filter_map(|(_, v)| v.as_deref())
            .collect()
    }

    /// The option's value, or an error saying it is required.
    pub fn required(&self, name: &str) -> Result<&str, String> {
        self.value(name).ok_or_else(|| {
            format!(
                "`{}` needs --{name}; see `sealed-session {} --help`",
                self.command, self.command
            )
        })
    }

    /// The option's value as a positive integer, if given.
    pub fn positive(&self, name: &str) -> Result<Option<u64>, String> {
        match self.value(name) {
            None => Ok(None),
            Some(text) => match text.parse::<u64>() {
                Ok(n) if n > 0 => Ok(Some(n)),
                _ => Err(format!(
                    "--{name} must be a positive whole number, got {text:?}"
                )),
            },
        }
    }
}
