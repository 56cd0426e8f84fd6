//! `ConfigDef`: a table of configuration keys (Java name, type, default, valid range, docs) and
//! the parse step that turns string properties into typed, validated values.
//!
//! The producer, consumer and admin crates build on it: they [`ConfigDef::extend`] the client
//! table with their own keys and parse once (strict: every key must be known to the combined
//! table), or parse the client keys with [`ConfigDef::parse_known`] and hand the leftovers to
//! their own table.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::suggest::closest;
use crate::error::{Error, Result};

/// String properties, key to value (later entries of a properties file win).
pub type Properties = BTreeMap<String, String>;

/// The value type of a key (Java's `ConfigDef.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    /// 32-bit integer.
    Int,
    /// 64-bit integer.
    Long,
    /// `true` or `false` (case-insensitive).
    Bool,
    /// A string (trimmed).
    String,
    /// A comma-separated list (entries trimmed, empty entries dropped).
    List,
    /// A secret string: never shown in errors or debug output.
    Password,
}

impl ConfigType {
    fn name(self) -> &'static str {
        match self {
            ConfigType::Int => "int",
            ConfigType::Long => "long",
            ConfigType::Bool => "boolean",
            ConfigType::String => "string",
            ConfigType::List => "list",
            ConfigType::Password => "password",
        }
    }
}

/// What values a key accepts beyond its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validator {
    /// Anything of the right type.
    Any,
    /// A number `>= min`.
    AtLeast(i64),
    /// A number in `min..=max`.
    Between(i64, i64),
    /// One of these strings, case-insensitively; the value is normalised to the listed spelling.
    OneOf(&'static [&'static str]),
    /// A non-empty list of `host:port` entries (`[v6addr]:port` for IPv6 literals).
    HostPortList,
}

impl Validator {
    fn describe(self) -> String {
        match self {
            Validator::Any => String::new(),
            Validator::AtLeast(min) => format!("[{min},...]"),
            Validator::Between(a, b) => format!("[{a},...,{b}]"),
            Validator::OneOf(v) => format!("[{}]", v.join(", ")),
            Validator::HostPortList => "non-empty list of host:port".into(),
        }
    }
}

/// One configuration key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigKey {
    /// The Java client's property name.
    pub name: &'static str,
    /// Its type.
    pub ty: ConfigType,
    /// The default as a string (parsed like a user value); `None` means required.
    pub default: Option<&'static str>,
    /// Accepted values.
    pub validator: Validator,
    /// One-paragraph documentation (interactions with other keys included).
    pub doc: &'static str,
}

/// A typed configuration value.
#[derive(Clone, PartialEq, Eq)]
pub enum ConfigValue {
    /// An `int`.
    Int(i32),
    /// A `long`.
    Long(i64),
    /// A `boolean`.
    Bool(bool),
    /// A `string` or `password`.
    String(String),
    /// A `list`.
    List(Vec<String>),
}

impl std::fmt::Debug for ConfigValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigValue::Int(v) => write!(f, "{v}"),
            ConfigValue::Long(v) => write!(f, "{v}"),
            ConfigValue::Bool(v) => write!(f, "{v}"),
            ConfigValue::String(v) => write!(f, "{v:?}"),
            ConfigValue::List(v) => write!(f, "{v:?}"),
        }
    }
}

/// The parsed values of a [`ConfigDef`]: every defined key has a value (given or default).
/// `Debug` hides the values of `password` keys.
#[derive(Clone, Default)]
pub struct ConfigValues {
    values: HashMap<&'static str, ConfigValue>,
    explicit: BTreeSet<&'static str>,
    secret: BTreeSet<&'static str>,
}

impl std::fmt::Debug for ConfigValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m = f.debug_map();
        let mut keys: Vec<_> = self.values.keys().collect();
        keys.sort();
        for k in keys {
            if self.secret.contains(k) {
                m.entry(k, &"[hidden]");
            } else {
                m.entry(k, &self.values[k]);
            }
        }
        m.finish()
    }
}

impl ConfigValues {
    /// The value of `name`, if defined.
    pub fn get(&self, name: &str) -> Option<&ConfigValue> {
        self.values.get(name)
    }

    /// Whether the user set `name` (rather than it taking its default).
    pub fn is_explicit(&self, name: &str) -> bool {
        self.explicit.contains(name)
    }

    /// An `int` or `long` key as `i64`. Panics if `name` is not a numeric key of the table
    /// (a programming error in the layer that defines both).
    pub fn number(&self, name: &str) -> i64 {
        match self.values.get(name) {
            Some(ConfigValue::Int(v)) => *v as i64,
            Some(ConfigValue::Long(v)) => *v,
            other => panic!("config key {name} is not a defined number: {other:?}"),
        }
    }

    /// A `boolean` key. Panics if `name` is not a boolean key of the table.
    pub fn bool(&self, name: &str) -> bool {
        match self.values.get(name) {
            Some(ConfigValue::Bool(v)) => *v,
            other => panic!("config key {name} is not a defined boolean: {other:?}"),
        }
    }

    /// A `string` or `password` key. Panics if `name` is not a string key of the table.
    pub fn string(&self, name: &str) -> &str {
        match self.values.get(name) {
            Some(ConfigValue::String(v)) => v,
            other => panic!("config key {name} is not a defined string: {other:?}"),
        }
    }

    /// A `list` key. Panics if `name` is not a list key of the table.
    pub fn list(&self, name: &str) -> &[String] {
        match self.values.get(name) {
            Some(ConfigValue::List(v)) => v,
            other => panic!("config key {name} is not a defined list: {other:?}"),
        }
    }
}

/// A table of configuration keys.
#[derive(Debug, Clone, Default)]
pub struct ConfigDef {
    keys: Vec<ConfigKey>,
}

impl ConfigDef {
    /// A table of `keys`. Panics on a duplicate name (a programming error).
    pub fn new(keys: impl IntoIterator<Item = ConfigKey>) -> Self {
        ConfigDef::default().extend(keys)
    }

    /// This table plus `keys` (e.g. the producer's own keys on top of the client's).
    /// Panics on a duplicate name (a programming error).
    pub fn extend(mut self, keys: impl IntoIterator<Item = ConfigKey>) -> Self {
        for k in keys {
            assert!(self.key(k.name).is_none(), "config key {} defined twice", k.name);
            self.keys.push(k);
        }
        self
    }

    /// Every key, in definition order.
    pub fn keys(&self) -> &[ConfigKey] {
        &self.keys
    }

    /// The key called `name`.
    pub fn key(&self, name: &str) -> Option<&ConfigKey> {
        self.keys.iter().find(|k| k.name == name)
    }

    /// The error for a key this table does not know, suggesting the closest known key.
    pub fn unknown_key(&self, key: &str) -> Error {
        Error::UnknownConfig {
            key: key.to_string(),
            suggestion: closest(key, self.keys.iter().map(|k| k.name)).map(str::to_string),
        }
    }

    /// Parses every key: an unknown key is an error (with a suggestion), a missing required
    /// key or a bad value is an error naming the key.
    pub fn parse(&self, props: &Properties) -> Result<ConfigValues> {
        // Unknown keys first: a misspelt required key should be reported as the typo it is.
        if let Some(k) = props.keys().find(|k| self.key(k).is_none()) {
            return Err(self.unknown_key(k));
        }
        self.parse_known(props).map(|(values, _)| values)
    }

    /// Parses the keys this table knows and returns the others untouched, for a layer above.
    pub fn parse_known(&self, props: &Properties) -> Result<(ConfigValues, Properties)> {
        let mut out = ConfigValues::default();
        for key in &self.keys {
            let (raw, explicit) = match props.get(key.name) {
                Some(v) => (v.as_str(), true),
                None => match key.default {
                    Some(d) => (d, false),
                    None => {
                        let typo = closest_unknown(key.name, props.keys().filter(|k| self.key(k).is_none()));
                        let hint = typo.map(|t| format!(" (`{t}` was given: a typo?)")).unwrap_or_default();
                        return Err(Error::config(key.name, format!("missing required configuration{hint}")));
                    }
                },
            };
            out.values.insert(key.name, parse_value(key, raw)?);
            if key.ty == ConfigType::Password {
                out.secret.insert(key.name);
            }
            if explicit {
                out.explicit.insert(key.name);
            }
        }
        let rest = props.iter().filter(|(k, _)| self.key(k).is_none()).map(|(k, v)| (k.clone(), v.clone()));
        Ok((out, rest.collect()))
    }

    /// `props` with the values of `password` keys (and of keys this table does not know, which
    /// may be secrets of a layer above) replaced by `[hidden]`: for `Debug` output.
    pub fn redacted(&self, props: &Properties) -> Properties {
        let secret = |k: &str| self.key(k).is_none_or(|k| k.ty == ConfigType::Password);
        props
            .iter()
            .map(|(k, v)| (k.clone(), if secret(k) { "[hidden]".into() } else { v.clone() }))
            .collect()
    }

    /// A Markdown table of every key (name, type, default, valid values, documentation), for
    /// the crate docs.
    pub fn markdown_table(&self) -> String {
        let mut s =
            String::from("| Key | Type | Default | Valid values | Description |\n|---|---|---|---|---|\n");
        for k in &self.keys {
            let default = match k.default {
                None => "(required)".to_string(),
                Some("") => "\"\"".to_string(),
                Some(d) => format!("`{d}`"),
            };
            s.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                k.name,
                k.ty.name(),
                default,
                k.validator.describe(),
                k.doc.replace('\n', " ").replace('|', "\\|")
            ));
        }
        s
    }
}

/// The given key that is closest to the missing key `name`, if it looks like a typo of it.
fn closest_unknown<'a>(name: &str, given: impl Iterator<Item = &'a String>) -> Option<&'a str> {
    given.map(String::as_str).find(|g| closest(g, [name]).is_some())
}

fn parse_value(key: &ConfigKey, raw: &str) -> Result<ConfigValue> {
    let raw = raw.trim();
    let shown = if key.ty == ConfigType::Password { "[hidden]" } else { raw };
    let bad = |what: &str| Error::config(key.name, format!("value `{shown}` {what}"));
    let value = match key.ty {
        ConfigType::Int => ConfigValue::Int(raw.parse().map_err(|_| bad("is not a 32-bit integer"))?),
        ConfigType::Long => ConfigValue::Long(raw.parse().map_err(|_| bad("is not a 64-bit integer"))?),
        ConfigType::Bool => match raw.to_ascii_lowercase().as_str() {
            "true" => ConfigValue::Bool(true),
            "false" => ConfigValue::Bool(false),
            _ => return Err(bad("is not a boolean (expected true or false)")),
        },
        ConfigType::String | ConfigType::Password => ConfigValue::String(raw.to_string()),
        ConfigType::List => ConfigValue::List(
            raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect(),
        ),
    };
    validate(key, value, &bad)
}

fn validate(key: &ConfigKey, value: ConfigValue, bad: &dyn Fn(&str) -> Error) -> Result<ConfigValue> {
    let number = match &value {
        ConfigValue::Int(v) => Some(*v as i64),
        ConfigValue::Long(v) => Some(*v),
        _ => None,
    };
    match (key.validator, &value) {
        (Validator::Any, _) => Ok(value),
        (Validator::AtLeast(min), _) => match number {
            Some(n) if n >= min => Ok(value),
            _ => Err(bad(&format!("must be at least {min}"))),
        },
        (Validator::Between(lo, hi), _) => match number {
            Some(n) if (lo..=hi).contains(&n) => Ok(value),
            _ => Err(bad(&format!("must be between {lo} and {hi}"))),
        },
        (Validator::OneOf(options), ConfigValue::String(s)) => {
            match options.iter().find(|o| o.eq_ignore_ascii_case(s)) {
                Some(o) => Ok(ConfigValue::String(o.to_string())),
                None => Err(bad(&format!("must be one of: {}", options.join(", ")))),
            }
        }
        (Validator::HostPortList, ConfigValue::List(list)) => {
            if list.is_empty() {
                return Err(bad("must list at least one host:port"));
            }
            for entry in list {
                if let Err(why) = split_host_port(entry) {
                    return Err(Error::config(key.name, format!("entry `{entry}` is invalid: {why}")));
                }
            }
            Ok(value)
        }
        (v, _) => Err(bad(&format!("cannot be checked by {v:?} (definition error)"))),
    }
}

/// Splits `host:port` (or `[v6]:port`) into host and port.
pub(crate) fn split_host_port(entry: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
        let (h, p) = rest.split_once("]:").ok_or("expected [ipv6-address]:port")?;
        (h, p)
    } else {
        entry.rsplit_once(':').ok_or("expected host:port")?
    };
    if host.is_empty() || host.contains('/') || host.chars().any(char::is_whitespace) {
        return Err(format!("bad host `{host}`"));
    }
    let port: u16 = port.parse().map_err(|_| format!("bad port `{port}` (expected 0-65535)"))?;
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &[ConfigKey] = &[
        ConfigKey {
            name: "a.int",
            ty: ConfigType::Int,
            default: Some("5"),
            validator: Validator::Between(1, 9),
            doc: "An int.",
        },
        ConfigKey {
            name: "b.mode",
            ty: ConfigType::String,
            default: Some("on"),
            validator: Validator::OneOf(&["on", "off"]),
            doc: "Mode.",
        },
        ConfigKey {
            name: "c.list",
            ty: ConfigType::List,
            default: None,
            validator: Validator::HostPortList,
            doc: "Hosts.",
        },
        ConfigKey {
            name: "d.secret",
            ty: ConfigType::Password,
            default: Some(""),
            validator: Validator::Any,
            doc: "Secret.",
        },
    ];

    fn props(kv: &[(&str, &str)]) -> Properties {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_explicit_and_normalisation() {
        let def = ConfigDef::new(KEYS.iter().cloned());
        let v = def.parse(&props(&[("c.list", " h1:1 , ,[::1]:2"), ("b.mode", "OFF")])).unwrap();
        assert_eq!(v.number("a.int"), 5);
        assert!(!v.is_explicit("a.int") && v.is_explicit("b.mode"));
        assert_eq!(v.string("b.mode"), "off");
        assert_eq!(v.list("c.list"), ["h1:1", "[::1]:2"]);
    }

    #[test]
    fn errors_name_the_key() {
        let def = ConfigDef::new(KEYS.iter().cloned());
        let e = def.parse(&props(&[])).unwrap_err().to_string();
        assert!(e.contains("c.list") && e.contains("missing required"), "{e}");
        let e = def.parse(&props(&[("c.list", "h:1"), ("a.int", "10")])).unwrap_err().to_string();
        assert!(e.contains("`a.int`") && e.contains("between 1 and 9"), "{e}");
        let e = def.parse(&props(&[("c.list", "h:1"), ("a.int", "x")])).unwrap_err().to_string();
        assert!(e.contains("not a 32-bit integer"), "{e}");
        let e = def.parse(&props(&[("c.list", "h:1"), ("b.mode", "maybe")])).unwrap_err().to_string();
        assert!(e.contains("one of: on, off"), "{e}");
        let e = def.parse(&props(&[("c.list", "h1")])).unwrap_err().to_string();
        assert!(e.contains("entry `h1`"), "{e}");
        let e = def.parse(&props(&[("c.list", "h:99999")])).unwrap_err().to_string();
        assert!(e.contains("bad port"), "{e}");
    }

    #[test]
    fn unknown_keys_strict_or_handed_on() {
        let def = ConfigDef::new(KEYS.iter().cloned());
        let p = props(&[("c.list", "h:1"), ("a.itn", "3")]);
        let e = def.parse(&p).unwrap_err();
        assert!(matches!(&e, Error::UnknownConfig { suggestion: Some(s), .. } if s == "a.int"), "{e}");
        let (_, rest) = def.parse_known(&p).unwrap();
        assert_eq!(rest, props(&[("a.itn", "3")]));
        // A layer parsing only its known keys still points at a misspelt required key.
        let e = def.parse_known(&props(&[("c.lst", "h:1")])).unwrap_err().to_string();
        assert!(e.contains("`c.list`") && e.contains("`c.lst` was given"), "{e}");
    }

    #[test]
    fn password_values_are_never_shown() {
        let def = ConfigDef::new([ConfigKey {
            name: "p",
            ty: ConfigType::Password,
            default: None,
            validator: Validator::AtLeast(0),
            doc: "",
        }]);
        let e = def.parse(&props(&[("p", "hunter2")])).unwrap_err().to_string();
        assert!(!e.contains("hunter2") && e.contains("[hidden]"), "{e}");
        let def = ConfigDef::new(KEYS.iter().cloned());
        let p = props(&[("c.list", "h:1"), ("d.secret", "hunter2")]);
        let v = def.parse(&p).unwrap();
        assert_eq!(v.string("d.secret"), "hunter2");
        assert!(!format!("{v:?}").contains("hunter2") && format!("{v:?}").contains("h:1"), "{v:?}");
        let r = def.redacted(&p);
        assert_eq!((r["d.secret"].as_str(), r["c.list"].as_str()), ("[hidden]", "h:1"));
    }

    #[test]
    #[should_panic(expected = "defined twice")]
    fn duplicate_keys_are_a_definition_error() {
        let _ = ConfigDef::new(KEYS.iter().cloned()).extend([KEYS[0].clone()]);
    }
}
